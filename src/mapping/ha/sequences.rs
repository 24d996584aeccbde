//! Sequences as Python builds them in Home Assistant's templates: `zip(a, b, …)` and
//! Jinja's `dict.from_keys(pairs)` (Zigbee2MQTT's event templates use both).

use minijinja::value::{Rest, Value};
use minijinja::{Error, ErrorKind};

/// `zip(a, b, …)`: lists of the items at the same position, as long as the shortest.
pub(super) fn zip(sequences: Rest<Value>) -> Result<Value, Error> {
    let mut columns = sequences
        .iter()
        .map(|s| s.try_iter())
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    if columns.is_empty() {
        return Ok(Value::from(rows));
    }
    'rows: loop {
        let mut row = Vec::with_capacity(columns.len());
        for column in &mut columns {
            match column.next() {
                Some(item) => row.push(item),
                None => break 'rows,
            }
        }
        rows.push(Value::from(row));
    }
    Ok(Value::from(rows))
}

/// `dict.from_keys(pairs)`: the mapping of a sequence of (key, value) pairs; a repeated
/// key keeps its first place and its last value.
pub(super) fn from_keys(args: &[Value]) -> Result<Value, Error> {
    let [pairs] = args else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "from_keys takes one sequence of (key, value) pairs",
        ));
    };
    let mut map: Vec<(Value, Value)> = Vec::new();
    for pair in pairs.try_iter()? {
        let (Ok(key), Ok(value)) = (pair.get_item_by_index(0), pair.get_item_by_index(1)) else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "from_keys: each item must be a (key, value) pair",
            ));
        };
        match map.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => map.push((key, value)),
        }
    }
    Ok(Value::from_iter(map))
}
