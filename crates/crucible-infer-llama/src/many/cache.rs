//! The prompt cache of `generate_many`: the KV cells of finished requests, kept in host memory
//! with the tokens they hold, so that a later prompt sharing a prefix with one of them (the same
//! prompt again, a chat's next turn, an editor's next infill) copies those cells back into its
//! slot and evaluates only what follows.
//!
//! An entry is a sequence's cells serialized compactly (llama.cpp's per-sequence state: only
//! the cells in use, about 12 KiB a token for the 0.5B model), so the cache holds as many
//! prompts as its budget of bytes allows, whatever the number of slots.
//!
//! Eviction is least recently used, where a lookup that reuses an entry counts as a use. An
//! entry whose tokens begin another's is redundant (the longer one serves every prompt the
//! shorter one would), so inserting a sequence drops the entries it extends, and a sequence
//! already covered by an entry only refreshes that entry. A repeated prompt therefore keeps one
//! entry, and a conversation keeps its latest turn.
//!
//! A finished request's answer is kept with its prompt only while the cache has room for both
//! ([`PromptCache::room_for`]); once storing it would evict something, only the prompt's cells
//! are kept. The answer's cells serve only a later prompt that contains the answer (a chat's
//! next turn), the prompt's serve every repeat of the prompt, and they take about half the
//! bytes, so a full cache holds twice as many prompts. Measured: 20 clients sending 80 prompts
//! twice over, with a cache that held about two thirds of prompt-and-answer entries and so
//! missed every repeat under LRU (docs/PERFORMANCE.md, "Serving").

use llama_cpp_2::token::LlamaToken;

/// Shortest shared prefix worth copying instead of evaluating.
pub(crate) const MIN_REUSE: usize = 16;

/// Cached sequences, each with its state `S` (a llama.cpp sequence state in the backend).
pub(crate) struct PromptCache<S> {
    entries: Vec<Entry<S>>,
    /// Most bytes the entries' states take together.
    budget: usize,
    /// A counter that orders uses.
    clock: u64,
}

struct Entry<S> {
    /// The tokens whose cells `state` holds, in position order from 0.
    tokens: Vec<LlamaToken>,
    state: S,
    /// The state's size.
    bytes: usize,
    last_used: u64,
}

/// What a prompt can take from the cache.
pub(crate) struct Hit<'a, S> {
    pub(crate) state: &'a S,
    /// Leading prompt tokens whose cells the state holds (at least [`MIN_REUSE`], and always
    /// short of the whole prompt: its last token is evaluated for its logits).
    pub(crate) reuse: usize,
}

impl<S> PromptCache<S> {
    /// An empty cache whose states take at most `budget` bytes.
    pub(crate) fn new(budget: usize) -> PromptCache<S> {
        PromptCache {
            entries: Vec::new(),
            budget,
            clock: 0,
        }
    }

    /// Change the budget; the least recently used entries go until the rest fit it.
    pub(crate) fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
        self.evict_to(budget);
    }

    /// Drop the least recently used entries until `bytes` more fit within the budget: room for
    /// a buffer that something outside the cache holds for a moment, out of the memory the
    /// cache may take. The budget stays; later entries fill the room again.
    pub(crate) fn make_room(&mut self, bytes: usize) {
        self.evict_to(self.budget.saturating_sub(bytes));
    }

    /// Drop the least recently used entries until the rest take at most `bytes`.
    fn evict_to(&mut self, bytes: usize) {
        let mut held = self.bytes();
        while held > bytes {
            let (oldest, _) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, entry)| entry.last_used)
                .expect("entries remain while they take more than nothing");
            held -= self.entries.swap_remove(oldest).bytes;
        }
    }

    /// Bytes the entries' states take.
    pub(crate) fn bytes(&self) -> usize {
        self.entries.iter().map(|e| e.bytes).sum()
    }

    /// Bytes a state of `tokens` may take without evicting anything: the budget left, plus
    /// what the entries it extends take (storing it drops them).
    pub(crate) fn room_for(&self, tokens: &[LlamaToken]) -> usize {
        let extended: usize = self
            .entries
            .iter()
            .filter(|entry| tokens.starts_with(&entry.tokens))
            .map(|entry| entry.bytes)
            .sum();
        self.budget
            .saturating_sub(self.bytes().saturating_sub(extended))
    }

    /// The entry sharing the longest prefix with `prompt`, if that prefix is worth copying;
    /// the entry counts as used.
    pub(crate) fn lookup(&mut self, prompt: &[LlamaToken]) -> Option<Hit<'_, S>> {
        let (idx, reuse) = self
            .entries
            .iter()
            .enumerate()
            .map(|(idx, entry)| (idx, reusable(&entry.tokens, prompt)))
            .max_by_key(|&(idx, reuse)| (reuse, std::cmp::Reverse(idx)))?;
        if reuse < MIN_REUSE {
            return None;
        }
        self.clock += 1;
        let entry = &mut self.entries[idx];
        entry.last_used = self.clock;
        Some(Hit {
            state: &entry.state,
            reuse,
        })
    }

    /// Whether `tokens` are worth storing: a sequence too short to reuse is not, and one an
    /// entry already covers only refreshes that entry. Lets the caller skip serializing a
    /// state that would be dropped.
    pub(crate) fn wants(&mut self, tokens: &[LlamaToken]) -> bool {
        if tokens.len() < MIN_REUSE || self.budget == 0 {
            return false;
        }
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|entry| entry.tokens.starts_with(tokens))
        {
            self.clock += 1;
            entry.last_used = self.clock;
            return false;
        }
        true
    }

    /// Store `state` (`bytes` long), the cells of `tokens`: the entries it extends go, then
    /// the least recently used ones until it fits the budget; a state larger than the whole
    /// budget is not kept. Call after [`PromptCache::wants`] said yes.
    pub(crate) fn insert(&mut self, tokens: Vec<LlamaToken>, state: S, bytes: usize) {
        if bytes > self.budget {
            return;
        }
        self.entries
            .retain(|entry| !tokens.starts_with(&entry.tokens));
        self.evict_to(self.budget - bytes);
        self.clock += 1;
        self.entries.push(Entry {
            tokens,
            state,
            bytes,
            last_used: self.clock,
        });
    }
}

/// How many leading tokens of `prompt` the cells of `cached` can stand for: their shared
/// prefix, short of the prompt's last token. The single-request path keeps its sequence's
/// cells in the context by the same rule (`Session::keep_prefix`).
pub(crate) fn reusable(cached: &[LlamaToken], prompt: &[LlamaToken]) -> usize {
    cached
        .iter()
        .zip(prompt)
        .take_while(|(a, b)| a == b)
        .count()
        .min(prompt.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(ids: impl IntoIterator<Item = i32>) -> Vec<LlamaToken> {
        ids.into_iter().map(LlamaToken).collect()
    }

    /// A prompt of `len` tokens that shares nothing with other values of `tag`.
    fn prompt(tag: i32, len: i32) -> Vec<LlamaToken> {
        tokens((0..len).map(|i| tag * 10_000 + i))
    }

    /// Store `tokens` with a state of one byte a token.
    fn put<S>(cache: &mut PromptCache<S>, tokens: Vec<LlamaToken>, state: S) {
        let bytes = tokens.len();
        cache.insert(tokens, state, bytes);
    }

    fn reuse_of(
        cache: &mut PromptCache<&'static str>,
        prompt: &[LlamaToken],
    ) -> Option<(&'static str, usize)> {
        cache.lookup(prompt).map(|hit| (*hit.state, hit.reuse))
    }

    #[test]
    fn the_entry_sharing_the_longest_prefix_is_chosen_and_one_token_is_left_to_evaluate() {
        let mut cache = PromptCache::new(1000);
        let shared = prompt(1, 40);
        put(
            &mut cache,
            [shared.clone(), prompt(2, 10)].concat(),
            "short",
        );
        put(&mut cache, [shared.clone(), prompt(3, 30)].concat(), "long");
        // Diverges after the shared 40 and 20 more of "long": "long" gives 60.
        let next = [shared.clone(), prompt(3, 20), prompt(4, 5)].concat();
        assert_eq!(reuse_of(&mut cache, &next), Some(("long", 60)));
        // The same prompt again: all but its last token.
        let again = [shared.clone(), prompt(2, 10)].concat();
        assert_eq!(reuse_of(&mut cache, &again), Some(("short", 49)));
        // A prompt the entry extends: all but its last token.
        assert_eq!(reuse_of(&mut cache, &shared), Some(("short", 39)));
    }

    #[test]
    fn short_shared_prefixes_are_evaluated_again() {
        let mut cache = PromptCache::new(1000);
        put(&mut cache, prompt(1, 40), "a");
        let short = [prompt(1, MIN_REUSE as i32 - 1), prompt(9, 5)].concat();
        assert_eq!(reuse_of(&mut cache, &short), None);
        assert_eq!(reuse_of(&mut PromptCache::new(1000), &prompt(1, 40)), None);
    }

    #[test]
    fn the_least_recently_used_entry_goes_first_and_a_hit_counts_as_a_use() {
        let mut cache = PromptCache::new(100);
        put(&mut cache, prompt(1, 30), "one");
        put(&mut cache, prompt(2, 30), "two");
        put(&mut cache, prompt(3, 30), "three");
        // "one" is reused, so "two" is now the least recently used.
        assert!(reuse_of(&mut cache, &prompt(1, 30)).is_some());
        put(&mut cache, prompt(4, 30), "four");
        assert_eq!(cache.bytes(), 90);
        assert_eq!(reuse_of(&mut cache, &prompt(2, 30)), None);
        for (tag, name) in [(1, "one"), (3, "three"), (4, "four")] {
            assert_eq!(
                reuse_of(&mut cache, &prompt(tag, 30)).map(|h| h.0),
                Some(name)
            );
        }
    }

    #[test]
    fn the_budget_is_in_bytes_not_entries() {
        // Sixteen prompts of 50 tokens fit 800 bytes, however few slots decode them.
        let mut cache = PromptCache::new(800);
        for tag in 0..16 {
            put(&mut cache, prompt(tag, 50), tag);
        }
        for tag in 0..16 {
            assert_eq!(
                cache.lookup(&prompt(tag, 50)).map(|hit| *hit.state),
                Some(tag)
            );
        }
        // A seventeenth evicts one, the least recently used (tag 0, looked up first).
        put(&mut cache, prompt(16, 50), 16);
        assert!(cache.lookup(&prompt(0, 50)).is_none());
        assert_eq!(cache.bytes(), 800);
    }

    #[test]
    fn a_smaller_budget_evicts_the_least_recently_used_until_the_rest_fit() {
        let mut cache = PromptCache::new(100);
        put(&mut cache, prompt(1, 30), "one");
        put(&mut cache, prompt(2, 30), "two");
        put(&mut cache, prompt(3, 30), "three");
        assert!(reuse_of(&mut cache, &prompt(1, 30)).is_some());
        // 90 bytes into 60: "two", the least recently used, goes.
        cache.set_budget(60);
        assert_eq!(cache.bytes(), 60);
        assert_eq!(reuse_of(&mut cache, &prompt(2, 30)), None);
        assert!(reuse_of(&mut cache, &prompt(1, 30)).is_some());
        assert!(reuse_of(&mut cache, &prompt(3, 30)).is_some());
        // The smaller budget holds for what comes next; a larger one keeps everything.
        put(&mut cache, prompt(4, 30), "four");
        assert_eq!(cache.bytes(), 60);
        cache.set_budget(1000);
        assert_eq!(cache.bytes(), 60);
        cache.set_budget(0);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn room_is_made_by_evicting_the_least_recently_used_and_the_budget_stays() {
        let mut cache = PromptCache::new(100);
        put(&mut cache, prompt(1, 30), "one");
        put(&mut cache, prompt(2, 30), "two");
        put(&mut cache, prompt(3, 30), "three");
        assert!(reuse_of(&mut cache, &prompt(1, 30)).is_some());
        // 10 bytes are free; 10 more evict nothing, 40 more evict "two".
        cache.make_room(10);
        assert_eq!(cache.bytes(), 90);
        cache.make_room(40);
        assert_eq!(cache.bytes(), 60);
        assert_eq!(reuse_of(&mut cache, &prompt(2, 30)), None);
        // The room is the cache's again once the buffer is gone.
        put(&mut cache, prompt(4, 30), "four");
        assert_eq!(cache.bytes(), 90);
        cache.make_room(1000);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn a_sequence_replaces_the_entries_it_extends_and_refreshes_one_that_covers_it() {
        let mut cache = PromptCache::new(1000);
        let turn1 = prompt(1, 40);
        put(&mut cache, turn1.clone(), "turn 1");
        // The conversation's next turn extends the first: one entry remains.
        let turn2 = [turn1.clone(), prompt(2, 40)].concat();
        assert!(cache.wants(&turn2));
        put(&mut cache, turn2.clone(), "turn 2");
        assert_eq!(cache.bytes(), 80);
        assert_eq!(reuse_of(&mut cache, &turn1), Some(("turn 2", 39)));
        // A sequence the entry already covers is not stored again.
        assert!(!cache.wants(&turn1));
        assert_eq!(cache.bytes(), 80);
    }

    #[test]
    fn room_is_what_the_budget_leaves_plus_what_a_sequence_would_replace() {
        let mut cache = PromptCache::new(100);
        assert_eq!(cache.room_for(&prompt(1, 10)), 100);
        let turn1 = prompt(1, 30);
        put(&mut cache, turn1.clone(), "turn 1");
        put(&mut cache, prompt(2, 50), "other");
        // Another prompt has the 20 bytes left; the conversation's next turn also has turn 1's
        // 30, which it replaces.
        assert_eq!(cache.room_for(&prompt(3, 10)), 20);
        assert_eq!(cache.room_for(&[turn1, prompt(4, 5)].concat()), 50);
        put(&mut cache, prompt(5, 20), "fills it");
        assert_eq!(cache.room_for(&prompt(3, 10)), 0);
    }

    #[test]
    fn a_sequence_too_short_to_reuse_or_larger_than_the_budget_is_not_kept() {
        let mut cache: PromptCache<()> = PromptCache::new(100);
        assert!(!cache.wants(&prompt(1, MIN_REUSE as i32 - 1)));
        assert!(cache.wants(&prompt(1, 101)));
        put(&mut cache, prompt(1, 101), ());
        assert_eq!(cache.bytes(), 0);
        put(&mut cache, prompt(1, 100), ());
        assert_eq!(cache.bytes(), 100);
        assert!(!PromptCache::<()>::new(0).wants(&prompt(1, 40)));
    }
}
