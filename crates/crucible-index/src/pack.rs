//! The context packer: fill a token budget with retrieved chunks, best first, and record why
//! each went in or stayed out, so a trace can show what the prompt was given.

use crate::Hit;

/// A chunk that went into the context.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    /// The hit.
    pub hit: Hit,
    /// Its tokens, as the caller's counter counted [`render`] of it.
    pub tokens: usize,
    /// Why it was chosen (its rank, scores and matched terms), one line for traces.
    pub reason: String,
}

/// Why a hit stayed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftOutReason {
    /// It would not fit in what was left of the budget.
    OverBudget {
        /// Its tokens.
        tokens: usize,
        /// Tokens left when it came up.
        remaining: usize,
    },
    /// It covers lines of a chunk already packed (same file, overlapping lines).
    Overlaps {
        /// `path:start-end` of the packed chunk.
        packed: String,
    },
}

/// A hit that stayed out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct LeftOut {
    /// The hit.
    pub hit: Hit,
    /// Why.
    pub reason: LeftOutReason,
}

/// What [`pack`] chose.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context {
    /// Chunks in, in the order given (best first).
    pub packed: Vec<Packed>,
    /// Chunks out, with the reason.
    pub left_out: Vec<LeftOut>,
    /// Tokens used.
    pub tokens: usize,
}

/// The text a chunk contributes: a `path:lines` line, the signatures around it, its text.
pub fn render(hit: &Hit) -> String {
    let mut out = format!("{}:{}-{}\n", hit.path, hit.start_line, hit.end_line);
    for signature in &hit.context {
        out.push_str(signature);
        out.push_str(" ...\n");
    }
    out.push_str(&hit.text);
    out.push('\n');
    out
}

/// Pack `hits` (best first) into `budget` tokens, counting with `count_tokens` (the model's
/// tokenizer). A hit that does not fit is left out and later, smaller ones may still go in; a
/// hit overlapping one already packed is left out.
pub fn pack(hits: Vec<Hit>, budget: usize, count_tokens: &mut dyn FnMut(&str) -> usize) -> Context {
    let mut context = Context::default();
    for (at, hit) in hits.into_iter().enumerate() {
        let overlap = context.packed.iter().find(|packed| {
            packed.hit.path == hit.path
                && packed.hit.start_line <= hit.end_line
                && hit.start_line <= packed.hit.end_line
        });
        if let Some(packed) = overlap {
            let packed = format!(
                "{}:{}-{}",
                packed.hit.path, packed.hit.start_line, packed.hit.end_line
            );
            context.left_out.push(LeftOut {
                hit,
                reason: LeftOutReason::Overlaps { packed },
            });
            continue;
        }
        let tokens = count_tokens(&render(&hit));
        let remaining = budget - context.tokens;
        if tokens > remaining {
            context.left_out.push(LeftOut {
                hit,
                reason: LeftOutReason::OverBudget { tokens, remaining },
            });
            continue;
        }
        context.tokens += tokens;
        let reason = reason(at + 1, &hit);
        context.packed.push(Packed {
            hit,
            tokens,
            reason,
        });
    }
    context
}

fn reason(position: usize, hit: &Hit) -> String {
    let mut parts = vec![format!("result {position}")];
    if let Some(bm25) = hit.why.bm25 {
        parts.push(format!("bm25 rank {} ({:.2})", bm25.rank, bm25.score));
    }
    if let Some(embedding) = hit.why.embedding {
        parts.push(format!(
            "embedding rank {} (cosine {:.3})",
            embedding.rank, embedding.score
        ));
    }
    if !hit.why.matched_terms.is_empty() {
        parts.push(format!("matched {}", hit.why.matched_terms.join(", ")));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ranked, Why};

    fn hit(path: &str, lines: (usize, usize), text: &str) -> Hit {
        Hit {
            path: path.into(),
            start_line: lines.0,
            end_line: lines.1,
            language: "rust".into(),
            kind: "function".into(),
            symbol: None,
            context: vec!["impl W".into()],
            text: text.into(),
            score: 1.0,
            why: Why {
                bm25: Some(Ranked {
                    rank: 1,
                    score: 3.5,
                }),
                embedding: None,
                matched_terms: vec!["get".into()],
            },
            chunk_id: 0,
        }
    }

    #[test]
    fn fills_the_budget_in_order_and_says_why() {
        let words = |text: &str| text.split_whitespace().count();
        let hits = vec![
            hit("a.rs", (1, 3), "fn get() { one two three }"),
            hit("a.rs", (2, 5), "overlapping"),
            hit("b.rs", (1, 9), &"word ".repeat(50)),
            hit("c.rs", (1, 2), "fn small()"),
        ];
        let context = pack(hits, 20, &mut { words });
        let packed: Vec<&str> = context.packed.iter().map(|p| p.hit.path.as_str()).collect();
        assert_eq!(packed, ["a.rs", "c.rs"]);
        assert_eq!(
            context.tokens,
            context.packed.iter().map(|p| p.tokens).sum::<usize>()
        );
        assert!(context.tokens <= 20);
        assert_eq!(
            context.packed[0].reason,
            "result 1; bm25 rank 1 (3.50); matched get"
        );
        assert_eq!(
            context.left_out[0].reason,
            LeftOutReason::Overlaps {
                packed: "a.rs:1-3".into()
            }
        );
        assert!(matches!(
            context.left_out[1].reason,
            LeftOutReason::OverBudget { tokens: 54, .. }
        ));
        assert_eq!(
            render(&context.packed[1].hit),
            "c.rs:1-2\nimpl W ...\nfn small()\n"
        );
    }
}
