//! Training-file layouts for supervised fine-tuning and preference tuning: TRL's
//! conversational `messages` and `prompt`/`completion`, LLaMA-Factory's alpaca and sharegpt
//! (with their `dataset_info.json` entries), axolotl's `chat_template`, and preference pairs
//! as DPO `prompt`/`chosen`/`rejected` and KTO `prompt`/`completion`/`label`. What goes in
//! (which examples, which pairs) is decided by the caller (`crucible-core`'s `export`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One instruction and its verified answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SftExample {
    pub id: String,
    pub instruction: String,
    pub response: String,
}

/// A prompt with a program that passes its tests and one that fails them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefPair {
    pub id: String,
    pub prompt: String,
    pub chosen: String,
    pub rejected: String,
}

/// The SFT layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SftFormat {
    /// TRL conversational: `{"messages": [{"role", "content"}, ...]}`.
    TrlMessages,
    /// TRL standard prompt-completion: `{"prompt", "completion"}`.
    TrlPromptCompletion,
    /// LLaMA-Factory alpaca: `{"instruction", "input", "output"}`.
    Alpaca,
    /// LLaMA-Factory sharegpt: `{"conversations": [{"from", "value"}, ...]}`.
    Sharegpt,
    /// axolotl `type: chat_template`: `{"messages": [{"role", "content"}, ...]}`.
    AxolotlChatTemplate,
}

impl SftFormat {
    pub const ALL: [SftFormat; 5] = [
        SftFormat::TrlMessages,
        SftFormat::TrlPromptCompletion,
        SftFormat::Alpaca,
        SftFormat::Sharegpt,
        SftFormat::AxolotlChatTemplate,
    ];

    /// The file it is written to, relative to the export directory.
    pub fn file(self) -> &'static str {
        match self {
            SftFormat::TrlMessages => "sft/trl_messages.jsonl",
            SftFormat::TrlPromptCompletion => "sft/trl_prompt_completion.jsonl",
            SftFormat::Alpaca => "llamafactory/alpaca.jsonl",
            SftFormat::Sharegpt => "llamafactory/sharegpt.jsonl",
            SftFormat::AxolotlChatTemplate => "axolotl/chat_template.jsonl",
        }
    }

    /// The row for `example`.
    pub fn row(self, example: &SftExample) -> Value {
        let (q, a) = (&example.instruction, &example.response);
        match self {
            SftFormat::TrlMessages | SftFormat::AxolotlChatTemplate => json!({
                "messages": [
                    {"role": "user", "content": q},
                    {"role": "assistant", "content": a},
                ]
            }),
            SftFormat::TrlPromptCompletion => json!({"prompt": q, "completion": a}),
            SftFormat::Alpaca => json!({"instruction": q, "input": "", "output": a}),
            SftFormat::Sharegpt => json!({
                "conversations": [
                    {"from": "human", "value": q},
                    {"from": "gpt", "value": a},
                ]
            }),
        }
    }
}

/// The preference layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrefFormat {
    /// TRL DPO (standard): `{"prompt", "chosen", "rejected"}`.
    Dpo,
    /// TRL KTO (unpaired): `{"prompt", "completion", "label"}`, two rows per pair.
    Kto,
    /// LLaMA-Factory alpaca ranking: `{"instruction", "input", "chosen", "rejected"}`.
    AlpacaRanking,
}

impl PrefFormat {
    pub const ALL: [PrefFormat; 3] = [PrefFormat::Dpo, PrefFormat::Kto, PrefFormat::AlpacaRanking];

    /// The file it is written to, relative to the export directory.
    pub fn file(self) -> &'static str {
        match self {
            PrefFormat::Dpo => "preference/dpo.jsonl",
            PrefFormat::Kto => "preference/kto.jsonl",
            PrefFormat::AlpacaRanking => "llamafactory/dpo_alpaca.jsonl",
        }
    }

    /// The rows for `pair`.
    pub fn rows(self, pair: &PrefPair) -> Vec<Value> {
        match self {
            PrefFormat::Dpo => vec![json!({
                "prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected,
            })],
            PrefFormat::Kto => vec![
                json!({"prompt": pair.prompt, "completion": pair.chosen, "label": true}),
                json!({"prompt": pair.prompt, "completion": pair.rejected, "label": false}),
            ],
            PrefFormat::AlpacaRanking => vec![json!({
                "instruction": pair.prompt, "input": "",
                "chosen": pair.chosen, "rejected": pair.rejected,
            })],
        }
    }
}

/// A multi-turn repair conversation: the task, the model's failing program, the failure
/// report it was shown, and the fixed program (and the turns between, as the strategy had them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    /// The system message, if the conversation had one.
    pub system: Option<String>,
    /// `(is_user, content)` turns, alternating, starting with the user and ending with the
    /// assistant's final answer.
    pub turns: Vec<(bool, String)>,
}

/// The layouts of multi-turn conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConversationFormat {
    /// TRL conversational: `{"messages": [{"role", "content"}, ...]}` (system first when there
    /// is one).
    TrlMessages,
    /// LLaMA-Factory sharegpt: `{"conversations": [{"from", "value"}, ...], "system"}`.
    Sharegpt,
}

impl ConversationFormat {
    pub const ALL: [ConversationFormat; 2] = [
        ConversationFormat::TrlMessages,
        ConversationFormat::Sharegpt,
    ];

    /// The file it is written to, relative to the export directory.
    pub fn file(self) -> &'static str {
        match self {
            ConversationFormat::TrlMessages => "sft/trl_repair_messages.jsonl",
            ConversationFormat::Sharegpt => "llamafactory/sharegpt_repair.jsonl",
        }
    }

    /// The row for `conversation`.
    pub fn row(self, conversation: &Conversation) -> Value {
        match self {
            ConversationFormat::TrlMessages => {
                let mut messages = Vec::new();
                if let Some(system) = &conversation.system {
                    messages.push(json!({"role": "system", "content": system}));
                }
                for (user, content) in &conversation.turns {
                    let role = if *user { "user" } else { "assistant" };
                    messages.push(json!({"role": role, "content": content}));
                }
                json!({ "messages": messages })
            }
            ConversationFormat::Sharegpt => {
                let turns: Vec<Value> = conversation
                    .turns
                    .iter()
                    .map(|(user, content)| {
                        json!({"from": if *user { "human" } else { "gpt" }, "value": content})
                    })
                    .collect();
                json!({
                    "conversations": turns,
                    "system": conversation.system.clone().unwrap_or_default(),
                })
            }
        }
    }
}

/// LLaMA-Factory's `dataset_info.json` for the files in `llamafactory/` (paths relative to it).
pub fn llamafactory_dataset_info(with_preferences: bool) -> Value {
    let mut info = json!({
        "crucible_alpaca": {
            "file_name": "alpaca.jsonl",
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"}
        },
        "crucible_sharegpt": {
            "file_name": "sharegpt.jsonl",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {
                "role_tag": "from", "content_tag": "value",
                "user_tag": "human", "assistant_tag": "gpt"
            }
        }
    });
    info["crucible_sharegpt_repair"] = json!({
        "file_name": "sharegpt_repair.jsonl",
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system"},
        "tags": {
            "role_tag": "from", "content_tag": "value",
            "user_tag": "human", "assistant_tag": "gpt"
        }
    });
    if with_preferences {
        info["crucible_dpo"] = json!({
            "file_name": "dpo_alpaca.jsonl",
            "formatting": "alpaca",
            "ranking": true,
            "columns": {
                "prompt": "instruction", "query": "input",
                "chosen": "chosen", "rejected": "rejected"
            }
        });
    }
    info
}

/// The axolotl config lines that load `axolotl/chat_template.jsonl`.
pub const AXOLOTL_SNIPPET: &str = "datasets:\n  - path: axolotl/chat_template.jsonl\n    ds_type: json\n    type: chat_template\n    field_messages: messages\n    message_property_mappings:\n      role: role\n      content: content\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> SftExample {
        SftExample {
            id: "synth/0".into(),
            instruction: "Add two numbers.".into(),
            response: "```python\ndef add(a, b):\n    return a + b\n```".into(),
        }
    }

    #[test]
    fn sft_rows_have_each_layouts_fields() {
        let e = example();
        let m = SftFormat::TrlMessages.row(&e);
        assert_eq!(m["messages"][0]["role"], "user");
        assert_eq!(m["messages"][1]["content"], e.response);
        let pc = SftFormat::TrlPromptCompletion.row(&e);
        assert_eq!(pc["prompt"], e.instruction);
        assert_eq!(pc["completion"], e.response);
        let alpaca = SftFormat::Alpaca.row(&e);
        assert_eq!(alpaca["output"], e.response);
        assert_eq!(alpaca["input"], "");
        let share = SftFormat::Sharegpt.row(&e);
        assert_eq!(share["conversations"][0]["from"], "human");
        assert_eq!(share["conversations"][1]["from"], "gpt");
        let files: std::collections::BTreeSet<&str> =
            SftFormat::ALL.iter().map(|f| f.file()).collect();
        assert_eq!(files.len(), SftFormat::ALL.len());
    }

    #[test]
    fn conversations_keep_their_turns_in_both_layouts() {
        let c = Conversation {
            id: "t".into(),
            system: Some("sys".into()),
            turns: vec![
                (true, "task".into()),
                (false, "bad".into()),
                (true, "report".into()),
                (false, "good".into()),
            ],
        };
        let trl = ConversationFormat::TrlMessages.row(&c);
        let roles: Vec<&str> = trl["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user", "assistant"]);
        assert_eq!(trl["messages"][4]["content"], "good");
        let share = ConversationFormat::Sharegpt.row(&c);
        assert_eq!(share["system"], "sys");
        assert_eq!(share["conversations"][2]["from"], "human");
        assert_eq!(share["conversations"][2]["value"], "report");
        assert_eq!(share["conversations"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn kto_gives_one_row_per_side() {
        let pair = PrefPair {
            id: "t".into(),
            prompt: "p".into(),
            chosen: "good".into(),
            rejected: "bad".into(),
        };
        let rows = PrefFormat::Kto.rows(&pair);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["label"], true);
        assert_eq!(rows[0]["completion"], "good");
        assert_eq!(rows[1]["label"], false);
        let dpo = &PrefFormat::Dpo.rows(&pair)[0];
        assert_eq!(dpo["rejected"], "bad");
        let info = llamafactory_dataset_info(true);
        assert_eq!(info["crucible_dpo"]["ranking"], true);
        assert_eq!(info["crucible_sharegpt"]["formatting"], "sharegpt");
        assert!(
            llamafactory_dataset_info(false)
                .get("crucible_dpo")
                .is_none()
        );
    }
}
