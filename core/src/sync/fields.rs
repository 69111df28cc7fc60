//! Reading and writing single fields of automerge documents: scalar strings for data,
//! text objects for prose, and readers that accept either.

use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjId, ObjType, ReadDoc, ScalarValue, Value};

/// A string field: a scalar string, or the content of a text object.
pub fn get_str(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        (Value::Object(ObjType::Text), id) => doc.text(&id).ok(),
        _ => None,
    }
}

/// A number field (float or integer).
pub fn get_f64(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<f64> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::F64(f) => Some(*f),
            ScalarValue::Int(i) => Some(*i as f64),
            ScalarValue::Uint(u) => Some(*u as f64),
            _ => None,
        },
        _ => None,
    }
}

/// A boolean field.
pub fn get_bool(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<bool> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Boolean(b) => Some(*b),
            _ => None,
        },
        _ => None,
    }
}

/// A nested map or list object.
pub fn get_obj(doc: &impl ReadDoc, obj: &ObjId, key: &str, kind: ObjType) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(t), id) if t == kind => Some(id),
        _ => None,
    }
}

/// The strings of a list (scalar or text items).
pub fn get_str_list(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Vec<String> {
    let Some(list) = get_obj(doc, obj, key, ObjType::List) else { return Vec::new() };
    (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i).ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            (Value::Object(ObjType::Text), id) => doc.text(&id).ok(),
            _ => None,
        })
        .collect()
}

/// Sets a scalar string, writing nothing when it already holds that value.
pub fn put_str(tx: &mut impl Transactable, obj: &ObjId, key: &str, value: &str) -> Result<(), AutomergeError> {
    let same = matches!(tx.get(obj, key)?, Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Str(v) if v.as_str() == value));
    if !same {
        tx.put(obj, key, value)?;
    }
    Ok(())
}

/// Sets an optional scalar string (deleting the key for `None`).
pub fn put_opt_str(
    tx: &mut impl Transactable,
    obj: &ObjId,
    key: &str,
    value: Option<&str>,
) -> Result<(), AutomergeError> {
    match value {
        Some(v) => put_str(tx, obj, key, v),
        None if tx.get(obj, key)?.is_some() => tx.delete(obj, key),
        None => Ok(()),
    }
}

/// Sets a number, writing nothing when unchanged.
pub fn put_f64(tx: &mut impl Transactable, obj: &ObjId, key: &str, value: f64) -> Result<(), AutomergeError> {
    if get_f64(tx, obj, key) != Some(value) {
        tx.put(obj, key, value)?;
    }
    Ok(())
}

/// Sets a boolean, writing nothing when unchanged.
pub fn put_bool(tx: &mut impl Transactable, obj: &ObjId, key: &str, value: bool) -> Result<(), AutomergeError> {
    if get_bool(tx, obj, key) != Some(value) {
        tx.put(obj, key, value)?;
    }
    Ok(())
}

/// Makes a text field hold `value`, as a minimal edit of the current text so that
/// concurrent edits elsewhere in it survive.
pub fn put_text(tx: &mut impl Transactable, obj: &ObjId, key: &str, value: &str) -> Result<(), AutomergeError> {
    let text = match tx.get(obj, key)? {
        Some((Value::Object(ObjType::Text), id)) => id,
        _ => tx.put_object(obj, key, ObjType::Text)?,
    };
    if tx.text(&text)? != value {
        tx.update_text(&text, value)?;
    }
    Ok(())
}

/// The map at `key`, created if missing.
pub fn ensure_map(tx: &mut impl Transactable, obj: &ObjId, key: &str) -> Result<ObjId, AutomergeError> {
    match tx.get(obj, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => tx.put_object(obj, key, ObjType::Map),
    }
}

/// Replaces a list of strings, writing nothing when unchanged.
pub fn put_str_list(
    tx: &mut impl Transactable,
    obj: &ObjId,
    key: &str,
    values: &[String],
) -> Result<(), AutomergeError> {
    if get_str_list(tx, obj, key) == values {
        return Ok(());
    }
    let list = tx.put_object(obj, key, ObjType::List)?;
    for (i, v) in values.iter().enumerate() {
        tx.insert(&list, i, v.as_str())?;
    }
    Ok(())
}
