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

    /// The captures of `topic`, or `None` when it does not match. `{name+}` takes as
    /// few levels as lets the rest match. Linear in the levels of the topic times those
    /// of the pattern, whatever the topic (a device's topic may have thousands of
    /// levels): which (pattern level, topic level) pairs can still match is worked out
    /// once, from the end, then the captures are read off in one pass.
    pub fn captures(&self, topic: &str) -> Option<Vec<(String, String)>> {
        let topic: Vec<&str> = topic.split('/').collect();
        let (p, n) = (self.levels.len(), topic.len());
        let width = n + 1;
        // `rest[i * width + t]`: pattern levels `i..` match topic levels `t..`.
        let mut rest = vec![false; (p + 1) * width];
        rest[p * width + n] = true;
        for i in (0..p).rev() {
            for t in (0..=n).rev() {
                let next = |t: usize| rest[(i + 1) * width + t];
                rest[i * width + t] = match &self.levels[i] {
                    Level::Hash => true,
                    _ if t == n => false,
                    // One level taken; then the rest, or more levels.
                    Level::CaptureMany(_) => next(t + 1) || rest[i * width + t + 1],
                    Level::Literal(l) => topic[t] == l && next(t + 1),
                    Level::Capture(_) | Level::Plus => next(t + 1),
                };
            }
        }
        if !rest[0] {
            return None;
        }
        let mut out = Vec::new();
        let mut t = 0;
        for (i, level) in self.levels.iter().enumerate() {
            match level {
                Level::Hash => break,
                Level::CaptureMany(name) => {
                    let start = t;
                    t += 1;
                    while !rest[(i + 1) * width + t] {
                        t += 1;
                    }
                    out.push((name.clone(), topic[start..t].join("/")));
                }
                Level::Capture(name) => {
                    out.push((name.clone(), topic[t].to_owned()));
                    t += 1;
                }
                Level::Literal(_) | Level::Plus => t += 1,
            }
        }
        Some(out)
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
    fn several_level_captures_take_as_few_as_the_rest_allows() {
        assert_eq!(
            caps("{a+}/x/{b+}", "1/x/2/x/3"),
            Some(vec![("a".into(), "1".into()), ("b".into(), "2/x/3".into())])
        );
        assert_eq!(caps("{a+}/x/{b+}/y", "1/x/2"), None);
        assert_eq!(caps("{a+}", "a"), Some(vec![("a".into(), "a".into())]));
        assert_eq!(caps("a/{b+}", "a"), None);
        assert_eq!(caps("a/#", "a"), Some(vec![]));
    }

    /// A device's topic of 64 KiB and 10 000 levels against two `{x+}`: the
    /// backtracking matcher this replaced tried O(levels²) splits, each joining its
    /// levels anew, and did not finish; this one visits each pair of levels once.
    #[test]
    fn a_topic_of_ten_thousand_levels_is_matched_at_once() {
        let topic = vec!["abcdef"; 10_000].join("/");
        assert!(topic.len() >= 64 * 1024 && topic.len() < 80 * 1024);
        assert_eq!(caps("{a+}/x/{b+}/y", &topic), None);
        let matched = caps("{a+}/abcdef/{b+}", &topic).unwrap();
        assert_eq!(matched[0].1, "abcdef");
        assert_eq!(matched[1].1.len(), topic.len() - 14);
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
