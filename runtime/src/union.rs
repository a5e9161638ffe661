//! Decoding an untagged `oneOf`/`anyOf` into the alternative that keeps all of the value.
//!
//! serde's own untagged enums take the first alternative that decodes, and a struct decodes from any
//! object that has its required members, silently dropping the rest: `{"card": .., "iban": ..}`
//! would become a card and lose the IBAN. Generated unions instead try every alternative and keep
//! the first whose re-encoding still holds every member of the original object.

use serde::Serialize;
use serde_json::Value;

/// The first alternative that decoded and keeps every member of `original` (for an object), else
/// the first that decoded at all, else every alternative's error in one message.
pub fn pick<T: Serialize>(original: &Value, attempts: Vec<Result<T, serde_json::Error>>) -> Result<T, String> {
    let mut errors = Vec::new();
    let mut fallback = None;
    for (index, attempt) in attempts.into_iter().enumerate() {
        match attempt {
            Ok(value) => {
                if keeps_everything(original, &value) {
                    return Ok(value);
                }
                fallback.get_or_insert(value);
            }
            Err(e) => errors.push(format!("alternative {index}: {e}")),
        }
    }
    fallback.ok_or_else(|| format!("the value matches none of the alternatives ({})", errors.join("; ")))
}

/// Whether `decoded`, encoded again, still has every member `original` has (recursively).
fn keeps_everything<T: Serialize>(original: &Value, decoded: &T) -> bool {
    match serde_json::to_value(decoded) {
        Ok(encoded) => covers(&encoded, original),
        Err(_) => false,
    }
}

fn covers(encoded: &Value, original: &Value) -> bool {
    match (encoded, original) {
        (Value::Object(have), Value::Object(want)) => {
            want.iter().all(|(key, value)| have.get(key).is_some_and(|kept| covers(kept, value)))
        }
        (Value::Array(have), Value::Array(want)) => {
            have.len() == want.len() && have.iter().zip(want).all(|(h, w)| covers(h, w))
        }
        // Numbers may change representation (5.0 -> 5); anything else must come back equal.
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Card {
        number: String,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Transfer {
        number: String,
        iban: String,
    }

    #[derive(Debug, PartialEq)]
    enum Method {
        Card(Card),
        Transfer(Transfer),
    }

    /// Written as the alternative itself, as generated unions are.
    impl Serialize for Method {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            match self {
                Method::Card(c) => c.serialize(serializer),
                Method::Transfer(t) => t.serialize(serializer),
            }
        }
    }

    impl Method {
        fn decode(value: Value) -> Result<Self, String> {
            pick(
                &value,
                vec![
                    serde_json::from_value(value.clone()).map(Method::Card),
                    serde_json::from_value(value.clone()).map(Method::Transfer),
                ],
            )
        }
    }

    fn plain(method: &Method) -> Value {
        serde_json::to_value(method).unwrap()
    }

    #[test]
    fn the_alternative_that_keeps_every_member_wins_over_the_first_that_decodes() {
        let value = json!({"number": "4242", "iban": "DE89"});
        let method = Method::decode(value.clone()).unwrap();
        assert_eq!(method, Method::Transfer(Transfer { number: "4242".into(), iban: "DE89".into() }));
        assert_eq!(plain(&method), value);
        assert_eq!(Method::decode(json!({"number": "1"})).unwrap(), Method::Card(Card { number: "1".into() }));
    }

    #[test]
    fn no_alternative_names_every_error() {
        let error = Method::decode(json!({"iban": "DE89"})).unwrap_err();
        assert!(error.contains("alternative 0") && error.contains("alternative 1"), "{error}");
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(covers(&json!({"a": 5}), &json!({"a": 5.0})));
        assert!(!covers(&json!({"a": [1]}), &json!({"a": [1, 2]})));
    }
}
