//! Topic patterns of mapping rules: `{name}` captures one level, `{name+}` one or more,
//! `+` and `#` match as in MQTT without capturing.

/// One level of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Level {
    Literal(String),
    Capture(String),
    CaptureMany(String),
    Plus,
    Hash,
}

/// A compiled topic pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    levels: Vec<Level>,
}

impl Pattern {
    /// Compiles `text`, or says why it is not a pattern.
    pub fn new(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("the topic pattern is empty".into());
        }
        let parts: Vec<&str> = text.split('/').collect();
        let mut levels = Vec::with_capacity(parts.len());
        let mut names = std::collections::HashSet::new();
        for (i, part) in parts.iter().enumerate() {
            let level = match *part {
                "+" => Level::Plus,
                "#" if i + 1 == parts.len() => Level::Hash,
                "#" => return Err(format!("{text:?}: `#` must be the last level")),
                p if p.starts_with('{') && p.ends_with('}') => {
                    let inner = &p[1..p.len() - 1];
                    let (name, many) = match inner.strip_suffix('+') {
                        Some(n) => (n, true),
                        None => (inner, false),
                    };
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(format!(
                            "{text:?}: `{p}` is not a capture like {{name}} or {{name+}}"
                        ));
                    }
                    if !names.insert(name.to_owned()) {
                        return Err(format!("{text:?}: capture `{name}` appears twice"));
                    }
                    if many {
                        Level::CaptureMany(name.into())
                    } else {
                        Level::Capture(name.into())
                    }
                }
                p if p.contains(['+', '#', '{', '}']) => {
                    return Err(format!("{text:?}: level {p:?} mixes text and wildcards"))
                }
                p => Level::Literal(p.to_owned()),
            };
            levels.push(level);
        }
        Ok(Self { levels })
    }

    /// The MQTT filter to subscribe for this pattern.
    pub fn filter(&self) -> String {
        let mut out: Vec<&str> = Vec::new();
        for level in &self.levels {
            match level {
                Level::Literal(l) => out.push(l),
                Level::Capture(_) | Level::Plus => out.push("+"),
                Level::CaptureMany(_) | Level::Hash => {
                    out.push("#");
                    break;
                }
            }
        }
        out.join("/")
    }

    /// The captures of `topic`, or `None` when it does not match.
    pub fn captures(&self, topic: &str) -> Option<Vec<(String, String)>> {
        let levels: Vec<&str> = topic.split('/').collect();
        let mut out = Vec::new();
        matches(&self.levels, &levels, &mut out).then_some(out)
    }
}

/// Backtracking match: `{name+}` takes as few levels as lets the rest match.
fn matches(pattern: &[Level], topic: &[&str], out: &mut Vec<(String, String)>) -> bool {
    let Some((first, rest)) = pattern.split_first() else {
        return topic.is_empty();
    };
    match first {
        Level::Hash => true,
        Level::CaptureMany(name) => {
            for take in 1..=topic.len() {
                let mark = out.len();
                out.push((name.clone(), topic[..take].join("/")));
                if matches(rest, &topic[take..], out) {
                    return true;
                }
                out.truncate(mark);
            }
            false
        }
        _ => {
            let Some((level, topic_rest)) = topic.split_first() else {
                return false;
            };
            match first {
                Level::Literal(l) if l != level => false,
                Level::Capture(name) => {
                    out.push((name.clone(), (*level).to_owned()));
                    matches(rest, topic_rest, out) || {
                        out.pop();
                        false
                    }
                }
                _ => matches(rest, topic_rest, out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, t: &str) -> Option<Vec<(String, String)>> {
        Pattern::new(p).unwrap().captures(t)
    }

    #[test]
    fn captures_one_and_several_levels() {
        assert_eq!(
            caps("tele/{device}/SENSOR", "tele/pow1/SENSOR"),
            Some(vec![("device".into(), "pow1".into())])
        );
        assert_eq!(caps("tele/{device}/SENSOR", "tele/a/b/SENSOR"), None);
        assert_eq!(
            caps(
                "{prefix+}/sensor/{object}/state",
                "home/garage/sensor/temp/state"
            ),
            Some(vec![
                ("prefix".into(), "home/garage".into()),
                ("object".into(), "temp".into())
            ])
        );
        assert_eq!(
            caps("zigbee2mqtt/+/set", "zigbee2mqtt/lamp/set"),
            Some(vec![])
        );
        assert_eq!(caps("a/#", "a/b/c"), Some(vec![]));
        assert_eq!(caps("a/{x}", "a"), None);
    }

    #[test]
    fn filters_and_errors() {
        assert_eq!(Pattern::new("{p+}/sensor/{o}/state").unwrap().filter(), "#");
        assert_eq!(
            Pattern::new("tele/{d}/SENSOR").unwrap().filter(),
            "tele/+/SENSOR"
        );
        assert!(Pattern::new("a/#/b").unwrap_err().contains("last level"));
        assert!(Pattern::new("a/{x}/{x}").unwrap_err().contains("twice"));
        assert!(Pattern::new("a/{}/b")
            .unwrap_err()
            .contains("not a capture"));
        assert!(Pattern::new("a/b+c").unwrap_err().contains("mixes"));
        assert!(Pattern::new("").is_err());
    }
}
