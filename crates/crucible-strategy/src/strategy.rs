//! Strategy names, their parameters and the presets `--strategy NAME` starts from.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crucible_exec::Limits;
use crucible_infer::prompt::PromptMode;
use crucible_types::SamplingParams;

use crate::{Error, Result};

/// Which strategy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// One program (greedy unless `samples > 1`); run on the visible tests only to report.
    Plain,
    /// Self-Debugging: run, show the failure, ask for a fix; up to `rounds` rounds.
    Repair,
    /// CodeT: `samples` programs and model-written tests, chosen by dual execution agreement.
    Rerank,
    /// Reflexion: verbal reflections on failures kept in an episodic memory across attempts.
    Reflexion,
    /// AgentCoder: programmer, test designer and test executor roles in one loop.
    Agent,
    /// Rerank, then repair the chosen program if it still fails the visible tests.
    #[serde(rename = "rerank+repair")]
    RerankRepair,
}

impl Kind {
    /// Every strategy, in the order docs list them.
    pub const ALL: [Kind; 6] = [
        Kind::Plain,
        Kind::Repair,
        Kind::Rerank,
        Kind::Reflexion,
        Kind::Agent,
        Kind::RerankRepair,
    ];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Repair => "repair",
            Kind::Rerank => "rerank",
            Kind::Reflexion => "reflexion",
            Kind::Agent => "agent",
            Kind::RerankRepair => "rerank+repair",
        }
    }

    /// All names, comma-separated, for messages.
    pub fn names() -> String {
        Kind::ALL.map(Kind::name).join(", ")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = Error;

    fn from_str(name: &str) -> Result<Kind> {
        let wanted = name.trim().to_ascii_lowercase();
        let alias = match wanted.as_str() {
            "self-debug" | "self-repair" | "self-debugging" => "repair",
            "codet" => "rerank",
            "agentcoder" => "agent",
            "rerank-repair" | "rerank,repair" => "rerank+repair",
            other => other,
        };
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == alias)
            .ok_or_else(|| Error::UnknownStrategy {
                name: name.to_owned(),
                known: Kind::names(),
            })
    }
}

/// A strategy and its knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strategy {
    pub kind: Kind,
    pub params: StrategyParams,
}

/// Knobs of a strategy run. They change results, so there is no `Default`: start from
/// [`Strategy::preset`] and change what you need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyParams {
    /// How the first programs are asked for (follow-up turns are always chat).
    pub mode: PromptMode,
    /// Most tokens per generated sequence.
    pub max_new_tokens: usize,
    /// Call `i` of a run uses seed `seed + i`.
    pub seed: u64,
    /// Decoding of calls that ask for several sequences.
    pub sampling: SamplingParams,
    /// Start with one greedy program and stop at once if it passes the visible tests.
    pub greedy_first: bool,
    /// Programs sampled together in one call (rerank, rerank+repair; plain when above 1).
    pub samples: usize,
    /// Model-written tests kept at most (rerank, agent; repair when the task shows none).
    pub tests: usize,
    /// Sequences asked for when the model writes tests.
    pub test_samples: usize,
    /// Rounds of repair / reflection / programmer revision.
    pub rounds: usize,
    /// Programs asked for per repair round (1 is greedy; more are sampled together).
    pub repairs: usize,
    /// Self-Debugging's explanation turn before each repair.
    pub explain: bool,
    /// Limits of each program run.
    pub limits: Limits,
    /// Most bytes of execution feedback shown to the model.
    pub feedback_bytes: usize,
    /// Programs run at once.
    pub jobs: usize,
}

impl Strategy {
    /// The strategy `name` with its preset parameters (docs/STRATEGIES.md lists them).
    pub fn preset(name: &str, seed: u64) -> Result<Strategy> {
        let kind: Kind = name.parse()?;
        let mut params = StrategyParams {
            mode: PromptMode::Chat,
            max_new_tokens: 768,
            seed,
            sampling: SamplingParams {
                temperature: 0.8,
                top_k: 0,
                top_p: 0.95,
                min_p: 0.0,
            },
            greedy_first: true,
            samples: 1,
            tests: 0,
            test_samples: 1,
            rounds: 0,
            repairs: 1,
            explain: false,
            limits: Limits::new(Duration::from_secs(3), 512 << 20),
            feedback_bytes: 1200,
            jobs: 2,
        };
        match kind {
            Kind::Plain => params.greedy_first = false,
            Kind::Repair | Kind::Reflexion => {
                params.rounds = 3;
                params.tests = 6;
            }
            Kind::Rerank | Kind::RerankRepair => {
                params.samples = 8;
                params.tests = 12;
                params.test_samples = 2;
                if kind == Kind::RerankRepair {
                    params.rounds = 2;
                }
            }
            Kind::Agent => {
                params.rounds = 3;
                params.tests = 8;
            }
        }
        Ok(Strategy { kind, params })
    }

    /// Check the parameters.
    pub fn validate(&self) -> Result<()> {
        let p = &self.params;
        let bad = |name: &'static str, problem: &str| {
            Err(Error::Param {
                name,
                problem: problem.to_owned(),
            })
        };
        if p.max_new_tokens == 0 {
            return bad("max_new_tokens", "must be at least 1");
        }
        if p.samples == 0 {
            return bad("samples", "must be at least 1");
        }
        if p.repairs == 0 {
            return bad("repairs", "must be at least 1");
        }
        if p.test_samples == 0 {
            return bad("test_samples", "must be at least 1");
        }
        if p.jobs == 0 {
            return bad("jobs", "must be at least 1");
        }
        if p.feedback_bytes < 64 {
            return bad("feedback_bytes", "must be at least 64");
        }
        if let Err(err) = p.sampling.validate() {
            return bad("sampling", &err.to_string());
        }
        if let Err(err) = p.limits.validate() {
            return bad("limits", &err.to_string());
        }
        Ok(())
    }

    /// A one-line description for results, e.g. `rerank+repair (samples 8, tests 12, rounds 2)`.
    pub fn describe(&self) -> String {
        let p = &self.params;
        let mut parts = Vec::new();
        if p.greedy_first {
            parts.push("greedy first".to_string());
        }
        match self.kind {
            Kind::Plain => parts.push(format!("samples {}", p.samples)),
            Kind::Repair => {
                parts.push(format!("rounds {}", p.rounds));
                if p.repairs > 1 {
                    parts.push(format!("repairs {}", p.repairs));
                }
                if p.explain {
                    parts.push("explain".into());
                }
            }
            Kind::Rerank => {
                parts.push(format!("samples {}", p.samples));
                parts.push(format!("tests {}", p.tests));
            }
            Kind::Reflexion | Kind::Agent => parts.push(format!("rounds {}", p.rounds)),
            Kind::RerankRepair => {
                parts.push(format!("samples {}", p.samples));
                parts.push(format!("tests {}", p.tests));
                parts.push(format!("rounds {}", p.rounds));
            }
        }
        format!("{} ({})", self.kind, parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for kind in Kind::ALL {
            assert_eq!(kind.name().parse::<Kind>().unwrap(), kind);
            assert!(Strategy::preset(kind.name(), 0).unwrap().validate().is_ok());
        }
        assert_eq!("CodeT".parse::<Kind>().unwrap(), Kind::Rerank);
        assert_eq!(
            "beam-me-up".parse::<Kind>().unwrap_err().to_string(),
            "unknown strategy `beam-me-up`; known: plain, repair, rerank, reflexion, agent, rerank+repair"
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        let mut strategy = Strategy::preset("rerank", 0).unwrap();
        strategy.params.samples = 0;
        assert_eq!(
            strategy.validate().unwrap_err().to_string(),
            "strategy parameter `samples` must be at least 1"
        );
    }

    #[test]
    fn descriptions_state_the_knobs() {
        let strategy = Strategy::preset("rerank+repair", 0).unwrap();
        assert_eq!(
            strategy.describe(),
            "rerank+repair (greedy first, samples 8, tests 12, rounds 2)"
        );
        assert_eq!(
            serde_json::to_value(Kind::RerankRepair).unwrap(),
            "rerank+repair"
        );
    }
}
