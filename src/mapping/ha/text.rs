//! Home Assistant's text template functions: regular expressions (Python's `re`
//! semantics over the `regex` crate: linear time, bounded size), JSON, base64, `ord`,
//! `slugify`.

use super::convert::{converted, default_of};
use base64::Engine;
use minijinja::value::{Kwargs, Value};
use minijinja::{Error, ErrorKind};

/// The most a device-supplied pattern may compile to.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn regex(find: &str, ignorecase: bool) -> Result<regex::Regex, Error> {
    regex::RegexBuilder::new(find)
        .case_insensitive(ignorecase)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("regular expression {find:?}: {e}"),
            )
        })
}

fn flag(positional: Option<bool>, kwargs: &Kwargs) -> Result<bool, Error> {
    Ok(positional.or(kwargs.get("ignorecase")?).unwrap_or(false))
}

/// `regex_match(value, find, ignorecase)`: a match at the start (Python's `re.match`).
pub(super) fn regex_match(
    value: String,
    find: String,
    ignorecase: Option<bool>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    regex_search(value, format!(r"\A(?:{find})"), ignorecase, kwargs)
}

/// `regex_search(value, find, ignorecase)`: a match anywhere.
pub(super) fn regex_search(
    value: String,
    find: String,
    ignorecase: Option<bool>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    let ignorecase = flag(ignorecase, &kwargs)?;
    Ok(regex(&find, ignorecase)?.is_match(&value))
}

/// Python's `re.findall`: the whole matches without groups, the group with one, a
/// list of the groups with several.
fn findall(value: &str, find: &str, ignorecase: bool) -> Result<Vec<Value>, Error> {
    let re = regex(find, ignorecase)?;
    let groups = re.captures_len() - 1;
    Ok(re
        .captures_iter(value)
        .map(|c| {
            let group = |i: usize| Value::from(c.get(i).map_or("", |m| m.as_str()));
            match groups {
                0 => group(0),
                1 => group(1),
                n => Value::from((1..=n).map(group).collect::<Vec<_>>()),
            }
        })
        .collect())
}

/// `regex_findall(value, find, ignorecase)`.
pub(super) fn regex_findall(
    value: String,
    find: String,
    ignorecase: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let ignorecase = flag(ignorecase, &kwargs)?;
    Ok(Value::from(findall(&value, &find, ignorecase)?))
}

/// `regex_findall_index(value, find, index=0, ignorecase)`.
pub(super) fn regex_findall_index(
    value: String,
    find: String,
    index: Option<i64>,
    ignorecase: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let ignorecase = flag(ignorecase, &kwargs)?;
    let index = index.or(kwargs.get("index")?).unwrap_or(0);
    let all = findall(&value, &find, ignorecase)?;
    let i = if index < 0 {
        all.len() as i64 + index
    } else {
        index
    };
    usize::try_from(i)
        .ok()
        .and_then(|i| all.get(i).cloned())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("regex_findall_index: no match {index} of {find:?}"),
            )
        })
}

/// `regex_replace(value, find, replace, ignorecase)`: Python's `re.sub`, its `\1` and
/// `\g<name>` references included.
pub(super) fn regex_replace(
    value: String,
    find: Option<String>,
    replace: Option<String>,
    ignorecase: Option<bool>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let find = find.or(kwargs.get("find")?).unwrap_or_default();
    let replace = replace.or(kwargs.get("replace")?).unwrap_or_default();
    let ignorecase = flag(ignorecase, &kwargs)?;
    let re = regex(&find, ignorecase)?;
    Ok(re
        .replace_all(&value, python_replacement(&replace).as_str())
        .into_owned())
}

/// A Python replacement string in the `regex` crate's syntax.
fn python_replacement(replace: &str) -> String {
    let mut out = String::new();
    let mut chars = replace.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        n.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') => {
                    chars.next();
                    let name: String = chars
                        .by_ref()
                        .skip_while(|c| *c == '<')
                        .take_while(|c| *c != '>')
                        .collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// `from_json(value, default)`.
pub(super) fn from_json(
    value: String,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    let read = serde_json::from_str::<serde_json::Value>(&value)
        .ok()
        .map(Value::from_serialize);
    converted("from_json", &Value::from(value), read, default)
}

/// `to_json(value, ensure_ascii=False, pretty_print=False, sort_keys=False)`.
pub(super) fn to_json(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let pretty: Option<bool> = kwargs.get("pretty_print")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let mut json = serde_json::to_value(&value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("to_json: {e}")))?;
    if sort_keys == Some(true) {
        sort(&mut json);
    }
    let text = if pretty == Some(true) {
        serde_json::to_string_pretty(&json)
    } else {
        serde_json::to_string(&json)
    }
    .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("to_json: {e}")))?;
    Ok(if ensure_ascii == Some(true) {
        text.chars()
            .map(|c| {
                if c.is_ascii() {
                    c.to_string()
                } else {
                    escape_utf16(c)
                }
            })
            .collect()
    } else {
        text
    })
}

fn escape_utf16(c: char) -> String {
    let mut buf = [0u16; 2];
    c.encode_utf16(&mut buf)
        .iter()
        .map(|u| format!("\\u{u:04x}"))
        .collect()
}

fn sort(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut v) in entries {
                sort(&mut v);
                map.insert(k, v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sort),
        _ => {}
    }
}

/// `base64_encode(value)`.
pub(super) fn base64_encode(value: String) -> String {
    base64::engine::general_purpose::STANDARD.encode(value)
}

/// `base64_decode(value)`: the decoded text (invalid UTF-8 replaced).
pub(super) fn base64_decode(value: String) -> Result<String, Error> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("base64_decode: {e}")))
}

/// `ord(value)`: the code point of a one-character text.
pub(super) fn ord(value: String) -> Result<u32, Error> {
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(u32::from(c)),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "ord expected a character, but string of length {} found",
                value.chars().count()
            ),
        )),
    }
}

/// `slugify(value, separator="_")`: as python-slugify does it (transliterated to ASCII,
/// lower case, runs of anything else one separator).
pub(super) fn slugify(value: String, separator: Option<String>) -> String {
    let separator = separator.unwrap_or_else(|| "_".into());
    let ascii = deunicode::deunicode(&value).to_lowercase();
    ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(&separator)
}
