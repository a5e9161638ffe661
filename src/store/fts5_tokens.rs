//! SQLite: FTS5's own tokenizer, called directly, so that the search index in memory
//! ([`super::word_index`]) holds the very tokens FTS5's index holds (`porter unicode61
//! remove_diacritics 2`: folded to lower case, diacritics removed, Porter-stemmed) and a search asks
//! it for the very prefixes FTS5's `MATCH` would. Tokens written by a copy of the algorithms
//! instead would differ from FTS5's somewhere in Unicode's folding or Porter's rules, and a search
//! would then list one thing in memory and another from the database.
//!
//! The tokenizer comes from FTS5's API (`SELECT fts5(?)` hands out its pointer) on an in-memory
//! connection of each thread that tokenizes; an instance tokenizes one text at a time.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;

use rusqlite::ffi;

use crate::error::AppError;

/// The search index's tokenizer and its arguments, as `migrations` creates `products_search`
/// (`tokenize='porter unicode61 remove_diacritics 2'`): a change to either needs the other.
const TOKENIZER: &std::ffi::CStr = c"porter";
const ARGUMENTS: [&std::ffi::CStr; 3] = [c"unicode61", c"remove_diacritics", c"2"];

/// A product's text as FTS5 indexes it: its tokens, in order, appended to `out`.
pub fn document(text: &str, out: &mut Vec<String>) -> Result<(), AppError> {
    with_tokenizer(|t| t.tokens(text, ffi::FTS5_TOKENIZE_DOCUMENT, out))
}

/// A search word as FTS5's `MATCH` reads it in `"word"*`: the tokens a prefix query looks for.
pub fn prefix(word: &str) -> Result<Vec<String>, AppError> {
    let mut out = Vec::new();
    with_tokenizer(|t| t.tokens(word, ffi::FTS5_TOKENIZE_QUERY | ffi::FTS5_TOKENIZE_PREFIX, &mut out))?;
    Ok(out)
}

thread_local! {
    static THREAD_TOKENIZER: RefCell<Option<Tokenizer>> = const { RefCell::new(None) };
}

fn with_tokenizer(tokenize: impl FnOnce(&Tokenizer) -> Result<(), String>) -> Result<(), AppError> {
    THREAD_TOKENIZER
        .with(|cell| {
            let mut held = cell.borrow_mut();
            if held.is_none() {
                *held = Some(Tokenizer::new()?);
            }
            tokenize(held.as_ref().expect("created above"))
        })
        .map_err(|e| AppError::Internal(format!("FTS5's tokenizer: {e}")))
}

/// An instance of FTS5's tokenizer, with the connection whose FTS5 module made it.
struct Tokenizer {
    instance: *mut ffi::Fts5Tokenizer,
    methods: ffi::fts5_tokenizer,
    _connection: rusqlite::Connection,
}

impl Tokenizer {
    fn new() -> Result<Self, String> {
        let connection = rusqlite::Connection::open_in_memory().map_err(|e| e.to_string())?;
        // SAFETY: the statement is prepared, stepped and finalized on the connection's own handle,
        // which outlives it; the pointer bound is to a local the step writes (FTS5's documented way
        // of handing out its API), and the API's functions are called as FTS5 documents them.
        unsafe {
            let db = connection.handle();
            let mut api: *mut ffi::fts5_api = null_mut();
            let mut statement = null_mut();
            if ffi::sqlite3_prepare_v2(db, c"SELECT fts5(?1)".as_ptr(), -1, &mut statement, null_mut())
                != ffi::SQLITE_OK
            {
                return Err("this SQLite has no FTS5".into());
            }
            ffi::sqlite3_bind_pointer(statement, 1, (&raw mut api).cast::<c_void>(), c"fts5_api_ptr".as_ptr(), None);
            ffi::sqlite3_step(statement);
            ffi::sqlite3_finalize(statement);
            let find = api.as_ref().and_then(|api| api.xFindTokenizer).ok_or("FTS5 handed out no API")?;
            let mut user = null_mut();
            let mut methods: ffi::fts5_tokenizer = std::mem::zeroed();
            if find(api, TOKENIZER.as_ptr(), &mut user, &mut methods) != ffi::SQLITE_OK {
                return Err("FTS5 has no porter tokenizer".into());
            }
            let (Some(create), Some(_), Some(_)) = (methods.xCreate, methods.xDelete, methods.xTokenize) else {
                return Err("FTS5's porter tokenizer lacks a method".into());
            };
            let mut arguments = ARGUMENTS.map(|a| a.as_ptr());
            let mut instance = null_mut();
            if create(user, arguments.as_mut_ptr(), arguments.len() as c_int, &mut instance) != ffi::SQLITE_OK
                || instance.is_null()
            {
                return Err("FTS5 refused the search index's tokenizer arguments".into());
            }
            Ok(Self { instance, methods, _connection: connection })
        }
    }

    fn tokens(&self, text: &str, flags: c_int, out: &mut Vec<String>) -> Result<(), String> {
        /// Each token, as FTS5 hands it over (its bytes valid only during the call).
        unsafe extern "C" fn token(
            context: *mut c_void,
            _flags: c_int,
            bytes: *const c_char,
            n: c_int,
            _start: c_int,
            _end: c_int,
        ) -> c_int {
            // SAFETY: `context` is the `Vec` passed to `xTokenize` below, borrowed for the call;
            // `bytes` holds `n` bytes for the duration of this callback.
            unsafe {
                let out = &mut *context.cast::<Vec<String>>();
                if n > 0 && !bytes.is_null() {
                    let token = std::slice::from_raw_parts(bytes.cast::<u8>(), n as usize);
                    out.push(String::from_utf8_lossy(token).into_owned());
                }
            }
            ffi::SQLITE_OK
        }
        let n = c_int::try_from(text.len()).map_err(|_| "a text past 2 GiB".to_string())?;
        let tokenize = self.methods.xTokenize.ok_or("no xTokenize")?;
        // SAFETY: the instance was made by this tokenizer's `xCreate` and is used by this thread
        // only; `text` outlives the call; the callback matches FTS5's signature.
        let rc = unsafe {
            tokenize(
                self.instance,
                (out as *mut Vec<String>).cast::<c_void>(),
                flags,
                text.as_ptr().cast(),
                n,
                Some(token),
            )
        };
        match rc {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(format!("tokenizing failed ({rc})")),
        }
    }
}

impl Drop for Tokenizer {
    fn drop(&mut self) {
        if let Some(delete) = self.methods.xDelete {
            // SAFETY: made by this tokenizer's `xCreate`, deleted once, before its connection.
            unsafe { delete(self.instance) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What FTS5's own index holds for `text`, read back through `fts5vocab`.
    fn indexed(text: &str) -> Vec<String> {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61 remove_diacritics 2'); \
             CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance');",
        )
        .unwrap();
        db.execute("INSERT INTO t (x) VALUES (?1)", [text]).unwrap();
        let mut read = db.prepare("SELECT term FROM v ORDER BY offset").unwrap();
        read.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn a_text_is_tokenized_as_fts5_indexes_it() {
        for text in [
            "Running Shoes for the Crème Brûlée lovers",
            "ÉTÉ naïve façade Ærøskøbing straße İstanbul ǅemal",
            "lamps, LAMPS; lamp-shade 12x 3.5kg caresses ponies relational",
            "",
            "日本語のテキスト and Ελληνικά κείμενα",
        ] {
            let mut tokens = Vec::new();
            document(text, &mut tokens).unwrap();
            assert_eq!(tokens, indexed(text), "{text}");
        }
    }

    /// A word's one token, as a prefix of the tokens of each text, finds what FTS5's `MATCH
    /// '"word"*'` finds.
    #[test]
    fn a_prefix_matches_what_fts5_matches() {
        let texts = [
            "Running shoes, relational lamps",
            "A runner's lamp-shade; crème brûlée",
            "Ærøskøbing caresses ponies",
            "straße Strasse STRAẞE naïveté",
            "relations relate related 12 120 1200",
        ];
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61 remove_diacritics 2')")
            .unwrap();
        for (i, text) in texts.iter().enumerate() {
            db.execute("INSERT INTO t (rowid, x) VALUES (?1, ?2)", rusqlite::params![i as i64, text]).unwrap();
        }
        let words = [
            "run",
            "running",
            "runner",
            "lamps",
            "Lamp",
            "shade",
            "creme",
            "crème",
            "Brûl",
            "aeros",
            "ærø",
            "caress",
            "pony",
            "ponies",
            "strass",
            "straß",
            "naïv",
            "relational",
            "relat",
            "12",
            "120",
            "r",
            "x",
        ];
        for word in words {
            let [token] = prefix(word).unwrap().try_into().unwrap_or_else(|t| panic!("{word}: {t:?}"));
            let ours: Vec<i64> = (0..texts.len())
                .filter(|&i| {
                    let mut tokens = Vec::new();
                    document(texts[i], &mut tokens).unwrap();
                    tokens.iter().any(|t| t.starts_with(&token))
                })
                .map(|i| i as i64)
                .collect();
            let mut read = db.prepare("SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rowid").unwrap();
            let matched: Vec<i64> =
                read.query_map([format!("\"{word}\"*")], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            assert_eq!(ours, matched, "{word} ({token})");
        }
    }

    #[test]
    fn a_prefix_is_read_as_fts5_reads_a_query_word() {
        assert_eq!(prefix("Lamps").unwrap(), ["lamp"]);
        assert_eq!(prefix("Crème").unwrap(), ["creme"]);
        assert_eq!(prefix("la").unwrap(), ["la"]);
        assert_eq!(prefix("x-y").unwrap(), ["x", "y"]);
        assert!(prefix("").unwrap().is_empty());
    }
}
