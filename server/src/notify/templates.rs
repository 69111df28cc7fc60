//! Message templates: one TOML file per language (`server/templates/messages/*.toml`),
//! written so a non-programmer can edit the wording. Built-in copies are compiled in;
//! `SYSOPS_TEMPLATES_DIR` points at edited files that override them. A message in a
//! language without that template falls back to English.

use super::Channel;
use anyhow::Context;
use minijinja::{Environment, UndefinedBehavior};
use std::collections::HashMap;
use std::path::Path;

const BUILT_IN: &[(&str, &str)] = &[
    ("en", include_str!("../../templates/messages/en.toml")),
    ("es", include_str!("../../templates/messages/es.toml")),
    ("pl", include_str!("../../templates/messages/pl.toml")),
];

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// E-mail subject or push title.
    pub subject: Option<String>,
    /// The text.
    pub body: String,
}

/// Every template, by language, message and channel.
pub struct Templates {
    by_lang: HashMap<String, toml::Table>,
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates, overridden by `*.toml` files in `dir` if given.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut by_lang = HashMap::new();
        for (lang, text) in BUILT_IN {
            by_lang.insert(
                (*lang).to_owned(),
                toml::from_str::<toml::Table>(text).with_context(|| format!("{lang}.toml"))?,
            );
        }
        if let Some(dir) = dir {
            for entry in std::fs::read_dir(dir).with_context(|| format!("templates directory {}", dir.display()))? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    let lang = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
                    let text = std::fs::read_to_string(&path)?;
                    let table: toml::Table =
                        toml::from_str(&text).with_context(|| format!("cannot read {}", path.display()))?;
                    by_lang.insert(lang, table);
                }
            }
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Compile every template once, named lang/message/channel/part.
        for (lang, table) in &by_lang {
            for (name, channels) in table {
                for (channel, parts) in channels.as_table().into_iter().flatten() {
                    for (part, src) in parts.as_table().into_iter().flatten() {
                        let src =
                            src.as_str().with_context(|| format!("{lang}: {name}.{channel}.{part} is not text"))?;
                        env.add_template_owned(format!("{lang}/{name}/{channel}/{part}"), src.to_owned())
                            .with_context(|| format!("{lang}: {name}.{channel}.{part}"))?;
                    }
                }
            }
        }
        Ok(Self { by_lang, env })
    }

    fn section(&self, lang: &str, name: &str, channel: Channel) -> Option<&toml::Table> {
        self.by_lang.get(lang)?.get(name)?.as_table()?.get(channel.as_str())?.as_table()
    }

    /// Renders `name` for `channel` in the language of `locale` (falling back to
    /// English) with `ctx`.
    pub fn render(
        &self,
        name: &str,
        channel: Channel,
        locale: &str,
        ctx: &serde_json::Value,
    ) -> anyhow::Result<Rendered> {
        let lang = locale.split(['-', '_']).next().unwrap_or("en").to_lowercase();
        let lang = if self.section(&lang, name, channel).is_some() { lang } else { "en".to_owned() };
        let section = self
            .section(&lang, name, channel)
            .with_context(|| format!("no template {name}.{} in {lang} or en", channel.as_str()))?;
        let subject_key = if channel == Channel::Push { "title" } else { "subject" };
        let render = |part: &str| -> anyhow::Result<String> {
            let t = self.env.get_template(&format!("{lang}/{name}/{}/{part}", channel.as_str()))?;
            Ok(t.render(minijinja::value::Serde(ctx))
                .with_context(|| format!("template {name}.{}", channel.as_str()))?
                .trim()
                .to_owned())
        };
        anyhow::ensure!(section.contains_key("body"), "template {name}.{} has no body", channel.as_str());
        Ok(Rendered {
            subject: if section.contains_key(subject_key) { Some(render(subject_key)?) } else { None },
            body: render("body")?,
        })
    }

    /// Languages available.
    pub fn languages(&self) -> Vec<&str> {
        self.by_lang.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> serde_json::Value {
        json!({
            "ticket": {"id": "t-1", "title": "TV has no signal", "category_label": "Televisions", "address": "1 Main St",
                       "description": "d"},
            "expert": {"name": "Maya Patel"}, "customer": {"name": "Casey"}, "manager": {"name": "Morgan"},
            "alert": {"kind_label": "ticket unassignable", "message": "No expert fits."},
            "eta_minutes": 25, "survey_url": "http://x/survey/abc", "survey_days": 14, "reason": "Reassigned."
        })
    }

    const ALL: &[(&str, &[Channel])] = &[
        ("expert_new_ticket", &[Channel::Push, Channel::Sms]),
        ("customer_expert_assigned", &[Channel::Sms, Channel::Email]),
        ("customer_expert_changed", &[Channel::Sms, Channel::Email]),
        ("customer_unassignable", &[Channel::Sms, Channel::Email]),
        ("expert_ticket_withdrawn", &[Channel::Push, Channel::Sms]),
        ("customer_survey", &[Channel::Email]),
        ("customer_survey_reminder", &[Channel::Email]),
        ("manager_alert", &[Channel::Email]),
    ];

    #[test]
    fn every_template_renders_in_every_language() {
        let t = Templates::load(None).unwrap();
        for lang in t.languages() {
            for (name, channels) in ALL {
                for ch in *channels {
                    let r = t.render(name, *ch, lang, &ctx()).unwrap_or_else(|e| panic!("{lang} {name}: {e:#}"));
                    assert!(!r.body.is_empty());
                    if *ch != Channel::Sms {
                        assert!(r.subject.is_some(), "{lang} {name} {ch:?} lacks a subject/title");
                    }
                }
            }
        }
    }

    #[test]
    fn languages_fall_back_to_english_and_use_their_own_words() {
        let t = Templates::load(None).unwrap();
        let es = t.render("expert_new_ticket", Channel::Sms, "es-US", &ctx()).unwrap();
        assert!(es.body.contains("nuevo ticket"), "{}", es.body);
        let pl_fallback = t.render("customer_survey", Channel::Email, "pl-PL", &ctx()).unwrap();
        assert!(pl_fallback.body.contains("Please tell us"));
        let unknown = t.render("expert_new_ticket", Channel::Push, "xx", &ctx()).unwrap();
        assert_eq!(unknown.subject.as_deref(), Some("New ticket: TV has no signal"));
    }

    #[test]
    fn a_missing_value_is_an_error_not_a_blank() {
        let t = Templates::load(None).unwrap();
        assert!(t.render("expert_new_ticket", Channel::Sms, "en", &json!({"ticket": {}})).is_err());
    }

    #[test]
    fn an_edited_file_overrides_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("en.toml"), "[expert_new_ticket.sms]\nbody = \"Hi {{ ticket.title }}\"\n")
            .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        assert_eq!(t.render("expert_new_ticket", Channel::Sms, "en", &ctx()).unwrap().body, "Hi TV has no signal");
    }
}
