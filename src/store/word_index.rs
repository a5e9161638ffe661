//! The catalogue's search words in memory, per tenant, for searches without a sort.
//!
//! PostgreSQL's GIN index finds a search's matches but neither orders nor counts them without
//! reading each match's product: at 10,000 products a search cost about 0.7 ms of the machine, 3% of
//! what a bare route answers, and at a million a common word's page tens of milliseconds. SQLite's
//! FTS5 orders and counts them, but a search there still walked every match's entries and read
//! the page's rows from the file (about 0.23 ms of the machine at 10,000, 8% of a bare route). Here
//! each tenant's live products hold slots in the order they were created, and each lexeme the slots
//! that hold it (and whether in the name), so a search is a few bitsets: its count a popcount, its
//! page the highest bits of its groups. Only the page's products are read, by id (most from the
//! product cache).
//!
//! Kept small, so that a million products fit in about 80 MB: the lexemes' bytes back to back, each
//! numbered, with one array of the numbers in bytewise order (a prefix's lexemes are a run of it);
//! a lexeme held by one product of a tenant is one entry, by a few a sorted list of slots, by more
//! than one in [`DENSE_SHARE`] a bitset; each product its id, creation time (against its id's),
//! version's low bits, and the lexemes it was put in a list for (those in a bitset are found
//! there); a product is found by a binary search of the slots in creation order.
//!
//! The lexemes are the database's own: on PostgreSQL `tsvector_to_array` of the index's vector and
//! of the name's, on SQLite the tokens of FTS5's own tokenizer ([`super::fts5_tokens`]), so a search
//! finds here what the database's index finds. The index is kept within a memory budget
//! (`--search-index-mib`): a catalogue that does not fit is searched in the database, as is any
//! search until the index has loaded. It follows this instance's writes at once (each product
//! written is read back before the write is answered, [`WordIndex::refresh`]) and other instances'
//! (or, on a SQLite file, other processes') within a second: every second it reads the products
//! updated since the last look, less [`MARGIN`] (a write's transaction between its clock reading
//! and its commit, and the clocks' difference between instances); a row older than what it holds
//! (by `version`) is ignored. Every ten minutes it is swept ([`WordIndex::sweep`]): every live
//! product read again into the index that goes on answering, so that what no look could find is
//! found without a second index beside the first; where deleted products hold a quarter of the
//! slots, it is loaded afresh instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};
use uuid::Uuid;

use super::reads::{self, Reads};
use crate::error::AppError;

/// How far before the previous look a look for changed products starts.
pub const MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the index waits before loading again after the catalogue outgrew its budget.
const RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// How often the index is swept all the same: what no look for changes could find (a write
/// committed later than [`MARGIN`] after its clock reading, a row changed by hand without its
/// `updated_at`) is found within this.
const RELOAD: std::time::Duration = std::time::Duration::from_secs(600);

/// Bytes a product takes here at least (its slot: id, creation time, version, its place by id;
/// a seeded product takes about 80 with its lexemes): a catalogue counted at more than the budget
/// allows is not read at all. A load that outgrows the budget measures what its products took,
/// for the next count.
const PRODUCT_BYTES: usize = 48;

/// Lexemes a load leaves pending before it puts them in order.
const SETTLE_LOADING: usize = 1 << 16;

/// Rows a load reads at once: each with its lexemes as strings until applied, so this many bound
/// a load's memory beyond the index (4,096 at 10,000 products on SQLite: a peak RSS 12 MiB higher).
const CHUNK: u64 = 512;

/// A lexeme's slots are kept as a bitset (one bit a slot, and one for the name's) once more than
/// one slot in this many holds it, in a tenant of at least [`DENSE_FROM`] slots: the bitsets then
/// take at most what the list of slots did (4 bytes a slot).
const DENSE_SHARE: usize = 16;
const DENSE_FROM: usize = 1024;

/// The most slots a tenant has here (an entry is `slot << 1 | in_name`, and a posting of one entry
/// is marked by the highest bit): a tenant that would need more is over the budget.
const MAX_SLOTS: usize = (1 << 30) - 1;

/// Late slots a tenant holds before its slots are put in order again (a rebuild of the tenant: at a
/// million products about a second).
const LATE_MAX: usize = if cfg!(test) { 64 } else { 1024 };

/// Bytes of runs no product holds from which a tenant's `words` are written afresh (once they are
/// half of it).
const COMPACT_FROM: usize = if cfg!(test) { 64 } else { 4096 };

/// A lexeme no live product of the tenant holds now.
const NONE: u32 = u32::MAX;
/// A posting that is one entry itself (`ONE | entry`) rather than the number of a list.
const ONE: u32 = 1 << 31;

/// The search words of every tenant's live products (see the module's documentation).
pub struct WordIndex {
    budget: usize,
    /// Bytes a product is taken to need here, before the catalogue is read ([`PRODUCT_BYTES`]).
    product_bytes: std::sync::atomic::AtomicUsize,
    state: RwLock<State>,
    /// Held while rows read from the database are applied: a load's catching up and a write's
    /// refresh each read and apply as one step, so neither undoes the other.
    applying: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// Loaded and followed: searches are answered here.
    ready: bool,
    /// When the index last found itself over its budget.
    over_budget: Option<std::time::Instant>,
    /// When it was loaded.
    loaded: Option<std::time::Instant>,
    /// Where the next look for changes starts.
    since: Option<DateTime<Utc>>,
    vocabulary: Vocabulary,
    tenants: HashMap<Uuid, Tenant>,
    /// A tenant needed more than [`MAX_SLOTS`].
    overflow: bool,
}

/// Every lexeme held, numbered in the order first seen, its bytes back to back.
#[derive(Default)]
struct Vocabulary {
    text: Vec<u8>,
    /// Where each lexeme's bytes end in `text`.
    ends: Vec<u32>,
    /// The numbers in their lexemes' bytewise order: a prefix's lexemes are a run of it.
    order: Vec<u32>,
    /// Lexemes numbered since `order` was last made whole ([`Vocabulary::settle`]), by bytes: a
    /// load's million new lexemes put in `order` one at a time would move it a million times.
    pending: BTreeMap<Box<str>, u32>,
}

/// The bytes of lexeme `n`.
fn lexeme<'a>(text: &'a [u8], ends: &[u32], n: u32) -> &'a [u8] {
    let n = n as usize;
    let start = if n == 0 { 0 } else { ends[n - 1] as usize };
    &text[start..ends[n] as usize]
}

impl Vocabulary {
    /// The number of `word`, given one if it has none.
    fn number(&mut self, word: &str) -> u32 {
        let (text, ends) = (&self.text, &self.ends);
        if let Ok(at) = self.order.binary_search_by(|&n| lexeme(text, ends, n).cmp(word.as_bytes())) {
            return self.order[at];
        }
        if let Some(&n) = self.pending.get(word) {
            return n;
        }
        self.text.extend_from_slice(word.as_bytes());
        self.ends.push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
        let n = u32::try_from(self.ends.len() - 1).unwrap_or(u32::MAX);
        self.pending.insert(word.into(), n);
        n
    }

    /// The number of `word`, if it has one.
    fn find(&self, word: &str) -> Option<u32> {
        let (text, ends) = (&self.text, &self.ends);
        match self.order.binary_search_by(|&n| lexeme(text, ends, n).cmp(word.as_bytes())) {
            Ok(at) => Some(self.order[at]),
            Err(_) => self.pending.get(word).copied(),
        }
    }

    /// Puts the pending lexemes in `order`: a few one at a time, many by one merge.
    fn settle(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let (text, ends) = (&self.text, &self.ends);
        if pending.len() < 64 {
            for (word, n) in pending {
                let at = self.order.partition_point(|&held| lexeme(text, ends, held) < word.as_bytes());
                self.order.insert(at, n);
            }
            return;
        }
        let old = std::mem::take(&mut self.order);
        let mut order = Vec::with_capacity(old.len() + pending.len());
        let (mut held, mut new) = (old.into_iter().peekable(), pending.into_iter().peekable());
        loop {
            let next = match (held.peek(), new.peek()) {
                (Some(&n), Some((word, _))) if lexeme(text, ends, n) < word.as_bytes() => held.next(),
                (_, Some(_)) => new.next().map(|(_, n)| n),
                (Some(_), None) => held.next(),
                (None, None) => None,
            };
            match next {
                Some(n) => order.push(n),
                None => break,
            }
        }
        self.order = order;
    }

    /// The numbers of the lexemes starting with `prefix` (every lexeme settled).
    fn prefixed(&self, prefix: &str) -> &[u32] {
        let (text, ends, p) = (&self.text, &self.ends, prefix.as_bytes());
        let from = self.order.partition_point(|&n| lexeme(text, ends, n) < p);
        let to = from + self.order[from..].partition_point(|&n| lexeme(text, ends, n).starts_with(p));
        &self.order[from..to]
    }

    fn bytes(&self) -> usize {
        self.text.len() + (self.ends.len() + self.order.len()) * 4 + self.pending.len() * 64
    }
}

/// One tenant's products.
struct Tenant {
    docs: Vec<Doc>,
    /// `(lexeme, posting)` of each lexeme its products held, by lexeme: [`NONE`], `ONE | entry`
    /// (one product), or the number of a list in `lists`.
    postings: Vec<(u32, u32)>,
    lists: Vec<List>,
    /// `(lexeme, list)` of the lists kept as bitsets.
    dense: Vec<(u32, u32)>,
    /// The lexemes each product was put in a list of slots for (`lexeme << 1 | in_name`), each
    /// doc's a run: their count, then each, seven bits a byte (LEB128). Those it was put in a
    /// bitset for are found in the bitsets.
    words: Vec<u8>,
    /// Bytes of `words` no product's run holds any more.
    garbage: usize,
    live: Bits,
    active: Bits,
    categories: Vec<(Box<str>, Bits)>,
    /// The slots of products that arrived after a newer one (created on another instance, read
    /// by the next look), in no order; every other slot is in creation order (by creation time,
    /// then id), so a product is found by a binary search. Past [`LATE_MAX`] of them the slots are
    /// put in order again.
    late: Vec<u32>,
    late_bits: Bits,
    /// The newest slot in creation order.
    newest: Option<u32>,
    /// While a sweep reads the catalogue: the slots it read, and those new since it began.
    seen: Option<Bits>,
    /// The creation times of the slots whose doc holds [`FAR`].
    far: HashMap<u32, i64>,
}

struct Doc {
    id: Uuid,
    /// Its creation time (microseconds) less the time in its id ([`id_micros`]), or [`FAR`]: its
    /// creation time is then in [`Tenant::far`]. A product's id is a UUIDv7 taken as it is created,
    /// so four bytes hold what took eight (4 MB at a million products).
    created: i32,
    /// Where its run of `words` starts ([`NO_RUN`]: none).
    words: u32,
    /// Its product's `version` (the low bits: compared as serial numbers).
    version: u32,
}

const _: () = assert!(std::mem::size_of::<Doc>() == 28);

/// A doc without a run of words (deleted, or being put).
const NO_RUN: u32 = u32::MAX;

/// A doc whose creation time is too far from its id's time (or whose id holds none).
const FAR: i32 = i32::MIN;

/// The time a UUIDv7 holds (milliseconds since the Unix epoch), in microseconds; 0 for an id of
/// another version (a row written elsewhere: its creation time is then held whole).
fn id_micros(id: Uuid) -> i64 {
    match id.get_version_num() {
        7 => {
            let b = id.as_bytes();
            let millis = b[..6].iter().fold(0i64, |millis, &byte| millis << 8 | i64::from(byte));
            millis * 1000
        }
        _ => 0,
    }
}

/// Appends `value` to `bytes`, seven bits a byte, the lowest first (LEB128).
fn push_varint(bytes: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        bytes.push(value as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// The value that starts at `*at` in `bytes`; `*at` moves past it.
fn read_varint(bytes: &[u8], at: &mut usize) -> u32 {
    let (mut value, mut shift) = (0u32, 0);
    loop {
        let byte = bytes[*at];
        *at += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
    }
}

/// The words of the run at `start`, and where it ends.
fn run(bytes: &[u8], start: u32) -> (Vec<u32>, usize) {
    if start == NO_RUN {
        return (Vec::new(), 0);
    }
    let mut at = start as usize;
    let count = read_varint(bytes, &mut at);
    let words = (0..count).map(|_| read_varint(bytes, &mut at)).collect();
    (words, at)
}

/// The slots holding a lexeme, each entry `slot << 1 | in_name`.
enum List {
    Slots(Vec<u32>),
    Bits { holds: Bits, named: Bits },
}

/// A bitset over a tenant's slots.
#[derive(Default, Clone)]
struct Bits(Vec<u64>);

/// The bitsets a search works in, kept by each thread for its next search. Made afresh for each,
/// a search at a million products took 0.75 MB of new blocks, which the allocator gave back to the
/// system and took again (half the page faults of one client's searches): by hand, the service's
/// own memory rose 17 MiB under one client's searches (about 1,500 a second), 11 MiB with them kept
/// (the caches' part), and its peak with them.
#[derive(Default)]
struct Scratch {
    any: Bits,
    named: Bits,
    holds: Bits,
    in_name: Bits,
    elsewhere: Bits,
    in_order: Bits,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

impl Bits {
    /// Makes this `words` words of zeros.
    fn zeroed(&mut self, words: usize) {
        self.0.clear();
        self.0.resize(words, 0);
    }
    /// Makes this a copy of `other`, `words` words long.
    fn copy_of(&mut self, other: &Bits, words: usize) {
        self.0.clear();
        self.0.extend_from_slice(&other.0[..other.0.len().min(words)]);
        self.0.resize(words, 0);
    }
    fn get(&self, slot: usize) -> bool {
        self.0.get(slot / 64).is_some_and(|word| word >> (slot % 64) & 1 == 1)
    }
    fn zeros(slots: usize) -> Self {
        Self(vec![0; slots.div_ceil(64)])
    }
    fn set(&mut self, slot: u32, on: bool) {
        let (word, bit) = ((slot / 64) as usize, slot % 64);
        if word >= self.0.len() {
            if !on {
                return;
            }
            self.0.resize(word + 1, 0);
        }
        match on {
            true => self.0[word] |= 1 << bit,
            false => self.0[word] &= !(1 << bit),
        }
    }
    fn and(&mut self, other: &Bits) {
        for (i, word) in self.0.iter_mut().enumerate() {
            *word &= other.0.get(i).copied().unwrap_or(0);
        }
    }
    fn and_not(&mut self, other: &Bits) {
        for (i, word) in self.0.iter_mut().enumerate() {
            *word &= !other.0.get(i).copied().unwrap_or(0);
        }
    }
    /// Sets what `other` sets, within this one's length.
    fn or(&mut self, other: &Bits) {
        for (word, theirs) in self.0.iter_mut().zip(&other.0) {
            *word |= theirs;
        }
    }
    fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }
    /// The set slots, highest first (`descending`) or lowest first.
    fn slots(&self, descending: bool) -> impl Iterator<Item = u32> + '_ {
        let words: Box<dyn Iterator<Item = (usize, &u64)>> = match descending {
            true => Box::new(self.0.iter().enumerate().rev()),
            false => Box::new(self.0.iter().enumerate()),
        };
        words.flat_map(move |(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = match descending {
                    true => 63 - rest.leading_zeros(),
                    false => rest.trailing_zeros(),
                };
                rest &= !(1u64 << bit);
                Some(i as u32 * 64 + bit)
            })
        })
    }
}

/// A product as the index reads it.
struct Row {
    id: Uuid,
    tenant: Uuid,
    category: String,
    active: bool,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    version: i64,
    deleted: bool,
    names: Vec<String>,
    words: Vec<String>,
}

/// What a search asks of the index beyond its words.
pub struct Filter<'a> {
    pub category: Option<&'a str>,
    /// Only active products (`Some(true)`), only inactive ones, or both.
    pub active: Option<bool>,
    /// A shopper's search: active products only.
    pub shopper: bool,
    pub descending: bool,
}

/// A search's page (the ids, best first) and how many products match.
pub struct Found {
    pub ids: Vec<Uuid>,
    pub matched: u64,
}

impl WordIndex {
    /// An index within `budget` bytes; none at all where it is 0.
    pub fn new(budget: usize) -> Option<Self> {
        (budget > 0).then(|| Self {
            budget,
            product_bytes: PRODUCT_BYTES.into(),
            state: RwLock::default(),
            applying: tokio::sync::Mutex::new(()),
        })
    }

    /// Whether searches are answered here (loaded, and within the budget).
    pub fn ready(&self) -> bool {
        self.state.read().unwrap_or_else(|e| e.into_inner()).ready
    }

    /// The live products and the bytes held, while searches are answered here.
    pub fn held(&self) -> Option<(u64, u64)> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let products = || state.tenants.values().map(|t| t.live.count()).sum();
        state.ready.then(|| (products(), state.bytes() as u64))
    }

    /// The page from `offset` of `size` of the tenant's live products holding every one of
    /// `prefixes` (one of the lexemes starting with it) that `filter` keeps, best first: products
    /// whose name holds every prefix, then the others, newest first within each (`descending`
    /// reverses the whole order). None while the index cannot answer (not loaded, or over its
    /// budget): the database answers instead.
    pub fn search(
        &self,
        tenant: Uuid,
        prefixes: &[String],
        filter: &Filter<'_>,
        offset: u64,
        size: u64,
    ) -> Option<Found> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if !state.ready {
            return None;
        }
        let Some(t) = state.tenants.get(&tenant) else {
            return Some(Found { ids: Vec::new(), matched: 0 });
        };
        let words = t.docs.len().div_ceil(64);
        let mut scratch = SCRATCH.take();
        let Scratch { any, named, holds, in_name, elsewhere, in_order } = &mut scratch;
        any.copy_of(&t.live, words);
        named.copy_of(&t.live, words);
        for prefix in prefixes {
            holds.zeroed(words);
            in_name.zeroed(words);
            for &lexeme in state.vocabulary.prefixed(prefix) {
                let Ok(at) = t.at(lexeme) else { continue };
                let mut put = |entry: u32| {
                    holds.set(entry >> 1, true);
                    if entry & 1 == 1 {
                        in_name.set(entry >> 1, true);
                    }
                };
                match t.postings[at].1 {
                    NONE => {}
                    posting if posting & ONE != 0 => put(posting & !ONE),
                    list => match &t.lists[list as usize] {
                        List::Slots(entries) => entries.iter().for_each(|&entry| put(entry)),
                        List::Bits { holds: theirs, named: their_names } => {
                            holds.or(theirs);
                            in_name.or(their_names);
                        }
                    },
                }
            }
            any.and(holds);
            named.and(in_name);
        }
        match filter.active {
            Some(true) => any.and(&t.active),
            Some(false) => any.and_not(&t.active),
            None => {}
        }
        if filter.shopper {
            any.and(&t.active);
        }
        if let Some(category) = filter.category {
            match t.categories.iter().find(|(name, _)| &**name == category) {
                Some((_, bits)) => any.and(bits),
                None => any.zeroed(words),
            }
        }
        named.and(any);
        elsewhere.copy_of(any, words);
        elsewhere.and_not(named);
        let matched = any.count();
        let (offset, size) = (usize::try_from(offset).unwrap_or(usize::MAX), usize::try_from(size).unwrap_or(0));
        let groups = match filter.descending {
            false => [&*named, &*elsewhere],
            true => [&*elsewhere, &*named],
        };
        // Newest first: the highest slots (in creation order), the late ones merged in where
        // their creation puts them.
        let newest = !filter.descending;
        let ids = match t.late.is_empty() {
            true => {
                let slots = groups[0].slots(newest).chain(groups[1].slots(newest));
                slots.skip(offset).take(size).map(|slot| t.docs[slot as usize].id).collect()
            }
            false => {
                let mut late = t.late.clone();
                late.sort_unstable_by_key(|&slot| t.key(slot));
                if newest {
                    late.reverse();
                }
                let mut ids = Vec::new();
                let mut skipped = 0;
                'groups: for bits in groups {
                    in_order.copy_of(bits, words);
                    in_order.and_not(&t.late_bits);
                    let mut slots = in_order.slots(newest).peekable();
                    let mut lates = late.iter().copied().filter(|&slot| bits.get(slot as usize)).peekable();
                    loop {
                        let next = match (slots.peek(), lates.peek()) {
                            (Some(&a), Some(&b)) if (t.key(a) > t.key(b)) == newest => slots.next(),
                            (_, Some(_)) => lates.next(),
                            (Some(_), None) => slots.next(),
                            (None, None) => break,
                        };
                        let Some(slot) = next else { break };
                        if skipped < offset {
                            skipped += 1;
                        } else if ids.len() < size {
                            ids.push(t.docs[slot as usize].id);
                        } else {
                            break 'groups;
                        }
                    }
                }
                ids
            }
        };
        SCRATCH.set(scratch);
        Some(Found { ids, matched })
    }

    /// Reads the product `id` again and applies it, after this instance wrote it: its next search
    /// finds what it wrote. A failure to read makes the index unusable until it has loaded again.
    pub async fn refresh(&self, reads: &Reads, id: Uuid) {
        let _applying = self.applying.lock().await;
        if !self.state.read().unwrap_or_else(|e| e.into_inner()).ready {
            return; // a load in progress reads it: it was committed before the load catches up
        }
        match read(reads, "id = $1", vec![id.into()]).await {
            Ok(rows) => self.apply(rows),
            Err(error) => {
                tracing::warn!(%error, "cannot read a written product back into the search index; searching the database until it has loaded again");
                *self.state.write().unwrap_or_else(|e| e.into_inner()) = State::default();
            }
        }
    }

    /// Loads the index when it has none (and sweeps it every [`RELOAD`]), or else applies what
    /// changed since the last look. Run every second.
    pub async fn follow(&self, reads: &Reads) -> Result<(), AppError> {
        let (ready, since, over_budget, loaded) = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            (state.ready, state.since, state.over_budget, state.loaded)
        };
        if !ready {
            if over_budget.is_some_and(|at| at.elapsed() < RETRY) {
                return Ok(());
            }
            return self.load(reads).await;
        }
        if loaded.is_some_and(|at| at.elapsed() >= RELOAD) {
            return self.sweep(reads).await;
        }
        self.catch_up(reads, since).await
    }

    /// Applies the products updated since `since` (less [`MARGIN`] at the next look).
    async fn catch_up(&self, reads: &Reads, since: Option<DateTime<Utc>>) -> Result<(), AppError> {
        let _applying = self.applying.lock().await;
        let started = Utc::now() - MARGIN;
        changed(reads, since.unwrap_or(started), |rows| self.apply(rows)).await?;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.ready {
            state.since = Some(started);
        }
        Ok(())
    }

    /// The tenants with live products, and how many each has.
    async fn counted(reads: &Reads) -> Result<Vec<(Uuid, i64)>, AppError> {
        let counted = Statement::from_string(
            reads.db.get_database_backend(),
            "SELECT tenant_id, CAST(SUM(n) AS BIGINT) AS n FROM product_counts GROUP BY tenant_id HAVING SUM(n) > 0",
        );
        let mut tenants = Vec::new();
        for row in reads.db.query_all_raw(counted).await? {
            tenants.push((row.try_get("", "tenant_id")?, row.try_get("", "n")?));
        }
        Ok(tenants)
    }

    /// The tenant's live products created after `after` (creation time, id), at most [`CHUNK`]
    /// of them, in creation order.
    async fn chunk(reads: &Reads, tenant: Uuid, after: Option<(DateTime<Utc>, Uuid)>) -> Result<Vec<Row>, AppError> {
        match after {
            None => {
                let condition = format!("tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at, id LIMIT {CHUNK}");
                read(reads, &condition, vec![tenant.into()]).await
            }
            Some((created, id)) => {
                let condition = format!(
                    "tenant_id = $1 AND deleted_at IS NULL AND (created_at, id) > ($2, $3) \
                     ORDER BY created_at, id LIMIT {CHUNK}"
                );
                read(reads, &condition, vec![tenant.into(), created.into(), id.into()]).await
            }
        }
    }

    /// Reads every live product again, as a load does, into the index that goes on answering: a
    /// product whose row differs from what is held (newer, or changed by hand at the same
    /// version) is applied, and one held live that is not read is taken out. So what no look for
    /// changes could find is found without a second index beside the first (a load's memory).
    /// Where deleted products hold a quarter of the slots, it loads afresh instead, letting them go.
    async fn sweep(&self, reads: &Reads) -> Result<(), AppError> {
        let dead = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            let (docs, live) = state.tenants.values().fold((0, 0), |(d, l), t| (d + t.docs.len(), l + t.live.count()));
            (docs as u64).saturating_sub(live) * 4 > docs as u64
        };
        if dead {
            return self.load(reads).await;
        }
        self.state.write().unwrap_or_else(|e| e.into_inner()).sweeping();
        for (tenant, _) in Self::counted(reads).await? {
            let mut after = None;
            loop {
                let rows = Self::chunk(reads, tenant, after).await?;
                let Some(last) = rows.last() else { break };
                let full = rows.len() as u64 == CHUNK;
                after = Some((last.created, last.id));
                {
                    // A write read back meanwhile is newer than these rows: they do not undo it.
                    // Compared with what is held while searches go on (a read lock); only then, the
                    // writing lock for what differs. Nothing else applies rows meanwhile (the
                    // applying lock), so the slots compared are those written.
                    let _applying = self.applying.lock().await;
                    let verdicts: Vec<Verdict> = {
                        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
                        rows.iter().map(|row| state.verdict(row)).collect()
                    };
                    let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
                    if !state.ready {
                        return Ok(());
                    }
                    state.sweep(rows, verdicts);
                }
                // Other instances' writes are followed meanwhile.
                let since = self.state.read().unwrap_or_else(|e| e.into_inner()).since;
                self.catch_up(reads, since).await?;
                if !full {
                    break;
                }
            }
        }
        let _applying = self.applying.lock().await;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if !state.ready {
            return Ok(());
        }
        state.swept();
        state.loaded = Some(std::time::Instant::now());
        if state.bytes() > self.budget {
            drop(state);
            self.over_budget(-1);
        }
        Ok(())
    }

    async fn load(&self, reads: &Reads) -> Result<(), AppError> {
        let tenants = Self::counted(reads).await?;
        let live: i64 = tenants.iter().map(|(_, n)| n).sum();
        let product_bytes = self.product_bytes.load(std::sync::atomic::Ordering::Relaxed);
        if usize::try_from(live).unwrap_or(usize::MAX).saturating_mul(product_bytes) > self.budget {
            self.over_budget(live);
            return Ok(());
        }
        let started = Utc::now() - MARGIN;
        let mut state = State::default();
        // Each tenant's products in creation order (their slots' order), in chunks, so that what
        // is read at once stays small.
        for (tenant, n) in tenants {
            let room = usize::try_from(n).unwrap_or(0).min(MAX_SLOTS);
            state.tenants.entry(tenant).or_insert_with(Tenant::new).reserve(room + room / 64);
            let mut after: Option<(DateTime<Utc>, Uuid)> = None;
            loop {
                let rows = Self::chunk(reads, tenant, after).await?;
                let Some(last) = rows.last() else { break };
                let (full, next) = (rows.len() as u64 == CHUNK, (last.created, last.id));
                after = Some(next);
                for row in rows {
                    state.apply(row, false);
                }
                if state.vocabulary.pending.len() >= SETTLE_LOADING {
                    state.vocabulary.settle();
                }
                if state.bytes() > self.budget {
                    let products: usize = state.tenants.values().map(|t| t.docs.len()).sum();
                    self.product_bytes.fetch_max(state.bytes() / products.max(1), std::sync::atomic::Ordering::Relaxed);
                    self.over_budget(live);
                    return Ok(());
                }
                if !full {
                    break;
                }
            }
        }
        // What was written while it was read, with every write's refresh waiting.
        let _applying = self.applying.lock().await;
        changed(reads, started, |rows| rows.into_iter().for_each(|row| state.apply(row, false))).await?;
        state.vocabulary.settle();
        state.order();
        if state.bytes() > self.budget {
            self.over_budget(live);
            return Ok(());
        }
        (state.ready, state.since, state.loaded) = (true, Some(started), Some(std::time::Instant::now()));
        tracing::info!(products = live, bytes = state.bytes(), "the search index has loaded");
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
        Ok(())
    }

    fn over_budget(&self, live: i64) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.over_budget.is_none() {
            tracing::info!(
                products = live,
                budget = self.budget,
                "the catalogue's words do not fit the search index's budget (--search-index-mib): searching the database"
            );
        }
        *state = State { over_budget: Some(std::time::Instant::now()), ..State::default() };
    }

    fn apply(&self, rows: Vec<Row>) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if !state.ready {
            return;
        }
        for row in rows {
            state.apply(row, false);
        }
        state.vocabulary.settle();
        state.order();
        for t in state.tenants.values_mut() {
            t.compact();
        }
        if state.bytes() > self.budget {
            drop(state);
            self.over_budget(-1);
        }
    }
}

/// What a sweep does with a row it read.
struct Verdict {
    /// The slot it was read for, if held.
    slot: Option<u32>,
    apply: bool,
}

/// Whether `version` is newer than `held` (their low bits, as serial numbers: RFC 1982).
fn newer(version: u32, held: u32) -> bool {
    (version.wrapping_sub(held) as i32) > 0
}

impl State {
    /// Renumbers the slots of each tenant holding more than [`LATE_MAX`] late slots, all in
    /// creation order. Deleted products keep a slot, dead, until the next load: their version is
    /// known.
    fn order(&mut self) {
        for t in self.tenants.values_mut().filter(|t| t.late.len() > LATE_MAX) {
            let old = std::mem::replace(t, Tenant::new());
            let mut slots: Vec<u32> = (0..u32::try_from(old.docs.len()).unwrap_or(u32::MAX)).collect();
            slots.sort_unstable_by_key(|&slot| old.key(slot));
            t.categories = old.categories.iter().map(|(name, _)| (name.clone(), Bits::default())).collect();
            t.reserve(slots.len());
            for slot in slots {
                let (doc, at, (created, _)) = (&old.docs[slot as usize], slot as usize, old.key(slot));
                let words = old.words_of(slot);
                let category = old.categories.iter().position(|(_, bits)| bits.get(at));
                let new = t.put(None, doc.id, created, doc.version, &words);
                match old.live.get(at) {
                    true => t.mark(new, old.active.get(at), category),
                    false => t.live.set(new, false),
                }
            }
        }
    }

    /// The bytes held, about.
    fn bytes(&self) -> usize {
        if self.overflow {
            return usize::MAX;
        }
        self.vocabulary.bytes() + self.tenants.values().map(Tenant::bytes).sum::<usize>()
    }

    /// Every tenant's slots are about to be swept: each one read is marked seen.
    fn sweeping(&mut self) {
        for t in self.tenants.values_mut() {
            t.seen = Some(Bits::zeros(t.docs.len()));
        }
    }

    /// What a sweep does with `row` (see [`WordIndex::sweep`]): the slot it was read for, and
    /// whether it is applied (a product not held, newer than what is held, or changed by hand at
    /// the same version).
    fn verdict(&self, row: &Row) -> Verdict {
        let created = row.created.timestamp_micros();
        let Some((t, slot)) = self.tenants.get(&row.tenant).and_then(|t| Some((t, t.slot_of(created, row.id)?))) else {
            return Verdict { slot: None, apply: true };
        };
        let (version, held) = (row.version as u32, t.docs[slot as usize].version);
        if newer(held, version) {
            return Verdict { slot: Some(slot), apply: false }; // a write read back since it was read
        }
        if version == held {
            let words: Option<Vec<u32>> = row
                .words
                .iter()
                .map(|word| Some(self.vocabulary.find(word)? << 1 | u32::from(row.names.contains(word))))
                .collect();
            let category = t.categories.iter().position(|(name, _)| **name == *row.category);
            if let Some(mut words) = words {
                words.sort_unstable();
                if t.holds(slot, &words, row.active, category) {
                    return Verdict { slot: Some(slot), apply: false };
                }
            }
        }
        Verdict { slot: Some(slot), apply: true }
    }

    /// A sweep read `rows`, and judged them (`verdicts`, in the same order): each slot read is
    /// marked seen, and what differs applied.
    fn sweep(&mut self, rows: Vec<Row>, verdicts: Vec<Verdict>) {
        for (row, verdict) in rows.into_iter().zip(verdicts) {
            if let Some(slot) = verdict.slot
                && let Some(seen) = self.tenants.get_mut(&row.tenant).and_then(|t| t.seen.as_mut())
            {
                seen.set(slot, true);
            }
            if verdict.apply {
                self.apply(row, true);
            }
        }
        self.vocabulary.settle();
    }

    /// A sweep has read every live product: those held live that it did not read are taken out
    /// (of a tenant put in order meanwhile, whose slots moved, none: the next sweep does).
    fn swept(&mut self) {
        for t in self.tenants.values_mut() {
            let Some(seen) = t.seen.take() else { continue };
            let unseen: Vec<u32> = t.live.slots(false).filter(|&slot| !seen.get(slot as usize)).collect();
            for slot in unseen {
                t.remove(slot);
            }
        }
        self.order();
        for t in self.tenants.values_mut() {
            t.compact();
        }
    }

    /// Applies `row`: where its product is held, only a newer version of it (or, `again`, the
    /// same one changed by hand).
    fn apply(&mut self, row: Row, again: bool) {
        let version = row.version as u32; // its low bits
        let created = row.created.timestamp_micros();
        let known = self.tenants.get(&row.tenant).and_then(|t| t.slot_of(created, row.id));
        if let Some(slot) = known
            && let Some(t) = self.tenants.get_mut(&row.tenant)
        {
            let held = t.docs[slot as usize].version;
            let applies = newer(version, held) || (again && version == held);
            if !applies {
                return; // what the index holds is as new
            }
            t.remove(slot);
            t.docs[slot as usize].version = version;
        }
        if row.deleted {
            return;
        }
        let mut words: Vec<u32> = Vec::with_capacity(row.words.len());
        for lexeme in &row.words {
            let number = self.vocabulary.number(lexeme);
            words.push(number << 1 | u32::from(row.names.contains(lexeme)));
        }
        let t = self.tenants.entry(row.tenant).or_insert_with(Tenant::new);
        if known.is_none() && t.docs.len() >= MAX_SLOTS {
            self.overflow = true;
            return;
        }
        let category = match t.categories.iter().position(|(name, _)| **name == *row.category) {
            Some(at) => at,
            None => {
                t.categories.push((row.category.as_str().into(), Bits::default()));
                t.categories.len() - 1
            }
        };
        let slot = t.put(known, row.id, created, version, &words);
        t.mark(slot, row.active, Some(category));
    }
}

impl Tenant {
    fn new() -> Self {
        Self {
            docs: Vec::new(),
            postings: Vec::new(),
            lists: Vec::new(),
            dense: Vec::new(),
            words: Vec::new(),
            garbage: 0,
            live: Bits::default(),
            active: Bits::default(),
            categories: Vec::new(),
            late: Vec::new(),
            late_bits: Bits::default(),
            newest: None,
            seen: None,
            far: HashMap::new(),
        }
    }

    /// Room for `slots` more products.
    fn reserve(&mut self, slots: usize) {
        self.docs.reserve_exact(slots);
    }

    /// What orders slot `slot`: its product's creation, then id.
    fn key(&self, slot: u32) -> (i64, Uuid) {
        let doc = &self.docs[slot as usize];
        let created = match doc.created {
            FAR => self.far.get(&slot).copied().unwrap_or(i64::MIN),
            near => id_micros(doc.id) + i64::from(near),
        };
        (created, doc.id)
    }

    /// The slot of product `id`, created at `created` (live, or deleted since the load): a binary
    /// search of the slots in creation order (stepping over late ones), else among the late.
    fn slot_of(&self, created: i64, id: Uuid) -> Option<u32> {
        let wanted = (created, id);
        let in_order = |slot: usize| !self.late_bits.get(slot);
        let (mut low, mut high) = (0, self.docs.len());
        while low < high {
            let middle = low + (high - low) / 2;
            let probe = (middle..high)
                .find(|&slot| in_order(slot))
                .or_else(|| (low..middle).rev().find(|&slot| in_order(slot)));
            let Some(probe) = probe else { break };
            match self.key(probe as u32).cmp(&wanted) {
                std::cmp::Ordering::Equal => return Some(probe as u32),
                std::cmp::Ordering::Less => low = probe + 1,
                std::cmp::Ordering::Greater => high = probe,
            }
        }
        self.late.iter().copied().find(|&slot| self.docs[slot as usize].id == id)
    }

    /// Where `lexeme`'s posting is (or would go) in `postings`.
    fn at(&self, lexeme: u32) -> Result<usize, usize> {
        self.postings.binary_search_by_key(&lexeme, |&(held, _)| held)
    }

    /// Puts the product in `slot` (the one it held before it changed, its words taken out) or in
    /// a new one, holding `words` (`lexeme << 1 | in_name`); its slot, live.
    fn put(&mut self, slot: Option<u32>, id: Uuid, created: i64, version: u32, words: &[u32]) -> u32 {
        let slot = match slot {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.docs.len()).unwrap_or(u32::MAX);
                let near = created.checked_sub(id_micros(id)).and_then(|d| i32::try_from(d).ok());
                let near = match near {
                    Some(near) if near != FAR => near,
                    _ => {
                        self.far.insert(slot, created);
                        FAR
                    }
                };
                self.docs.push(Doc { id, created: near, words: NO_RUN, version });
                if let Some(seen) = &mut self.seen {
                    seen.set(slot, true); // new since the sweep began
                }
                match self.newest {
                    Some(newest) if self.key(newest) > (created, id) => {
                        self.late.push(slot);
                        self.late_bits.set(slot, true);
                    }
                    _ => self.newest = Some(slot),
                }
                slot
            }
        };
        let listed: Vec<u32> =
            words.iter().copied().filter(|&word| self.add(word >> 1, slot << 1 | (word & 1))).collect();
        self.docs[slot as usize].words = match listed.is_empty() {
            true => NO_RUN,
            false => {
                let start = u32::try_from(self.words.len()).unwrap_or(NO_RUN);
                push_varint(&mut self.words, u32::try_from(listed.len()).unwrap_or(u32::MAX));
                listed.iter().for_each(|&word| push_varint(&mut self.words, word));
                start
            }
        };
        self.live.set(slot, true);
        slot
    }

    /// Whether `slot` holds, live, exactly `words` (sorted, `lexeme << 1 | in_name`), active as
    /// `active`, in category `category`.
    fn holds(&self, slot: u32, words: &[u32], active: bool, category: Option<usize>) -> bool {
        let at = slot as usize;
        if !self.live.get(at) || self.active.get(at) != active {
            return false;
        }
        if !category.and_then(|c| self.categories.get(c)).is_some_and(|(_, bits)| bits.get(at)) {
            return false;
        }
        self.words_of(slot) == words
    }

    /// The words `slot` holds, sorted (`lexeme << 1 | in_name`): its run's, and its bitsets'.
    fn words_of(&self, slot: u32) -> Vec<u32> {
        let at = slot as usize;
        let (mut words, _) = run(&self.words, self.docs[at].words);
        for &(lexeme, list) in &self.dense {
            if let List::Bits { holds, named } = &self.lists[list as usize]
                && holds.get(at)
            {
                words.push(lexeme << 1 | u32::from(named.get(at)));
            }
        }
        words.sort_unstable();
        // A lexeme put in a list, and later the list made a bitset, is in both.
        words.dedup_by_key(|word| *word >> 1);
        words
    }

    /// Marks `slot` active or not, and in its category.
    fn mark(&mut self, slot: u32, active: bool, category: Option<usize>) {
        self.active.set(slot, active);
        if let Some((_, bits)) = category.and_then(|at| self.categories.get_mut(at)) {
            bits.set(slot, true);
        }
    }

    /// Adds `entry` to `lexeme`'s slots; whether it went to a list of slots (not a bitset).
    fn add(&mut self, lexeme: u32, entry: u32) -> bool {
        let at = match self.at(lexeme) {
            Ok(at) => at,
            Err(at) => {
                self.postings.insert(at, (lexeme, NONE));
                at
            }
        };
        let posting = self.postings[at].1;
        if posting == NONE {
            self.postings[at].1 = ONE | entry;
            return true;
        }
        if posting & ONE != 0 {
            let first = posting & !ONE;
            let entries = if first >> 1 < entry >> 1 { vec![first, entry] } else { vec![entry, first] };
            self.postings[at].1 = u32::try_from(self.lists.len()).unwrap_or(NONE);
            self.lists.push(List::Slots(entries));
            return true;
        }
        let slots = self.docs.len();
        let list = &mut self.lists[posting as usize];
        let dense = match list {
            List::Bits { holds, named } => {
                holds.set(entry >> 1, true);
                named.set(entry >> 1, entry & 1 == 1);
                return false;
            }
            List::Slots(entries) => {
                let place = entries.partition_point(|&e| e >> 1 < entry >> 1);
                entries.insert(place, entry);
                (slots >= DENSE_FROM && entries.len() * DENSE_SHARE > slots).then(|| {
                    let (mut holds, mut named) = (Bits::zeros(slots), Bits::default());
                    for &e in entries.iter() {
                        holds.set(e >> 1, true);
                        named.set(e >> 1, e & 1 == 1);
                    }
                    List::Bits { holds, named }
                })
            }
        };
        if let Some(bits) = dense {
            *list = bits;
            self.dense.push((lexeme, posting));
        }
        true
    }

    /// Takes `slot` out of `lexeme`'s slots.
    fn take(&mut self, lexeme: u32, slot: u32) {
        let Ok(at) = self.at(lexeme) else { return };
        match self.postings[at].1 {
            NONE => {}
            posting if posting & ONE != 0 => {
                if (posting & !ONE) >> 1 == slot {
                    self.postings[at].1 = NONE;
                }
            }
            list => match &mut self.lists[list as usize] {
                List::Bits { holds, named } => {
                    holds.set(slot, false);
                    named.set(slot, false);
                }
                List::Slots(entries) => {
                    if let Ok(place) = entries.binary_search_by_key(&slot, |&e| e >> 1) {
                        entries.remove(place);
                    }
                }
            },
        }
    }

    /// Takes the product out of `slot` (it stays, dead, so that its id finds it).
    fn remove(&mut self, slot: u32) {
        let Some(doc) = self.docs.get_mut(slot as usize) else { return };
        let start = std::mem::replace(&mut doc.words, NO_RUN);
        let (words, end) = run(&self.words, start);
        self.garbage += end.saturating_sub(start as usize);
        for word in words {
            self.take(word >> 1, slot);
        }
        for &(_, list) in &self.dense {
            if let List::Bits { holds, named } = &mut self.lists[list as usize] {
                holds.set(slot, false);
                named.set(slot, false);
            }
        }
        self.live.set(slot, false);
        self.active.set(slot, false);
        for (_, bits) in &mut self.categories {
            bits.set(slot, false);
        }
    }

    /// Lets go of the runs of `words` no product holds, once they are most of it.
    fn compact(&mut self) {
        if self.garbage < COMPACT_FROM || self.garbage * 2 < self.words.len() {
            return;
        }
        let mut words = Vec::with_capacity(self.words.len() - self.garbage);
        for doc in self.docs.iter_mut().filter(|doc| doc.words != NO_RUN) {
            let (_, end) = run(&self.words, doc.words);
            let start = u32::try_from(words.len()).unwrap_or(NO_RUN);
            words.extend_from_slice(&self.words[doc.words as usize..end]);
            doc.words = start;
        }
        (self.words, self.garbage) = (words, 0);
    }

    /// The bytes held, about (what is written, not what is reserved: pages never written are not
    /// resident).
    fn bytes(&self) -> usize {
        let lists: usize = self
            .lists
            .iter()
            .map(|list| match list {
                List::Slots(entries) => 32 + entries.len() * 4,
                List::Bits { holds, named } => 32 + (holds.0.len() + named.0.len()) * 8,
            })
            .sum();
        let bits =
            self.live.0.len() + self.active.0.len() + self.categories.iter().map(|(_, b)| b.0.len()).sum::<usize>();
        self.docs.len() * std::mem::size_of::<Doc>()
            + self.late.len() * 4
            + self.late_bits.0.len() * 8
            + self.postings.len() * 8
            + self.words.len()
            + self.dense.len() * 8
            + self.far.capacity() * 24
            + lists
            + bits * 8
    }
}

/// The products changed since `since` (by `updated_at`), oldest change first, given to `apply`
/// [`CHUNK`] at a time (another instance's import may have changed a million).
async fn changed(reads: &Reads, since: DateTime<Utc>, mut apply: impl FnMut(Vec<Row>)) -> Result<(), AppError> {
    let mut after = (since, Uuid::nil());
    loop {
        let condition = format!("(updated_at, id) > ($1, $2) ORDER BY updated_at, id LIMIT {CHUNK}");
        let rows = read(reads, &condition, vec![after.0.into(), after.1.into()]).await?;
        let Some(last) = rows.last() else { return Ok(()) };
        let full = rows.len() as u64 == CHUNK;
        after = (last.updated, last.id);
        apply(rows);
        if !full {
            return Ok(());
        }
    }
}

/// The products `condition` selects (its parameters bound to `values`, `$1` on), with their
/// lexemes: on PostgreSQL its search vector's and its name's, on SQLite the tokens FTS5 indexes for
/// them (on a SQLite file read and tokenized off the runtime, on a connection of their own:
/// [`super::reads::SqliteReaders::query_unmapped`]).
async fn read(reads: &Reads, condition: &str, values: Vec<Value>) -> Result<Vec<Row>, AppError> {
    const COLUMNS: &str =
        "id, tenant_id, category, active, created_at, updated_at, version, deleted_at IS NOT NULL AS deleted";
    let backend = reads.db.get_database_backend();
    if let Some(sqlite) = reads.sqlite() {
        let sql = format!("SELECT {COLUMNS}, name, description FROM products WHERE {}", condition.replace('$', "?"));
        return sqlite.query_unmapped(Statement::from_sql_and_values(backend, sql, values), sqlite_row).await;
    }
    let text = match backend {
        DatabaseBackend::Postgres => {
            "array_to_json(tsvector_to_array(to_tsvector('english', name)))::text AS names, \
             array_to_json(tsvector_to_array(search))::text AS words"
        }
        _ => "name, description",
    };
    let statement = Statement::from_sql_and_values(
        backend,
        format!("SELECT {COLUMNS}, {text} FROM products WHERE {condition}"),
        values,
    );
    let lexemes = |text: String| -> Result<Vec<String>, AppError> {
        serde_json::from_str(&text).map_err(|e| AppError::Internal(format!("a product's lexemes: {e}")))
    };
    let mut rows = Vec::new();
    for row in reads.db.query_all_raw(statement).await? {
        let (names, words) = match backend {
            DatabaseBackend::Postgres => (lexemes(row.try_get("", "names")?)?, lexemes(row.try_get("", "words")?)?),
            _ => tokens(&row.try_get::<String>("", "name")?, &row.try_get::<String>("", "description")?)?,
        };
        rows.push(Row {
            id: row.try_get("", "id")?,
            tenant: row.try_get("", "tenant_id")?,
            category: row.try_get("", "category")?,
            active: row.try_get("", "active")?,
            created: row.try_get("", "created_at")?,
            updated: row.try_get("", "updated_at")?,
            version: row.try_get("", "version")?,
            deleted: row.try_get("", "deleted")?,
            names,
            words,
        });
    }
    Ok(rows)
}

/// A row of [`read`]'s statement on a SQLite file.
fn sqlite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let (names, words) = tokens(row.get_ref(8)?.as_str()?, row.get_ref(9)?.as_str()?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, e.to_string().into()))?;
    Ok(Row {
        id: reads::uuid(row, 0)?,
        tenant: reads::uuid(row, 1)?,
        category: row.get(2)?,
        active: row.get(3)?,
        created: reads::time(row, 4)?,
        updated: reads::time(row, 5)?,
        version: row.get(6)?,
        deleted: row.get(7)?,
        names,
        words,
    })
}

/// SQLite: a product's tokens as FTS5 indexes them, of its name, and of its name and description
/// (each sorted, once).
fn tokens(name: &str, description: &str) -> Result<(Vec<String>, Vec<String>), AppError> {
    let mut names = Vec::new();
    super::fts5_tokens::document(name, &mut names)?;
    let mut words = names.clone();
    super::fts5_tokens::document(description, &mut words)?;
    for list in [&mut names, &mut words] {
        list.sort_unstable();
        list.dedup();
    }
    Ok((names, words))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u128, created: i64, name: &[&str], description: &[&str], version: i64) -> Row {
        let mut words: Vec<String> = name.iter().chain(description).map(|w| w.to_string()).collect();
        words.sort();
        words.dedup();
        Row {
            id: Uuid::from_u128(n),
            tenant: Uuid::from_u128(1 << 100),
            category: if n.is_multiple_of(2) { "home" } else { "footwear" }.into(),
            active: !n.is_multiple_of(3),
            created: DateTime::from_timestamp_micros(created).unwrap(),
            updated: DateTime::from_timestamp_micros(created).unwrap(),
            version,
            deleted: false,
            names: name.iter().map(|w| w.to_string()).collect(),
            words,
        }
    }

    fn index(rows: Vec<Row>) -> WordIndex {
        let index = WordIndex::new(1 << 20).unwrap();
        index.state.write().unwrap().ready = true;
        index.apply(rows);
        index
    }

    fn found(index: &WordIndex, words: &[&str], filter: &Filter<'_>, offset: u64) -> (Vec<u128>, u64) {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let found = index.search(Uuid::from_u128(1 << 100), &words, filter, offset, 3).unwrap();
        (found.ids.iter().map(|id| id.as_u128()).collect(), found.matched)
    }

    const ALL: Filter<'static> = Filter { category: None, active: None, shopper: false, descending: false };

    #[test]
    fn a_search_lists_name_matches_then_the_others_newest_first_however_the_rows_arrive() {
        // Arriving in no order (a load's chunks, another instance's writes).
        let index = index(vec![
            row(4, 40, &["lamp"], &["desk"], 1),
            row(1, 10, &["desk"], &["lamp"], 1),
            row(3, 30, &["lamp", "desk"], &[], 1),
            row(2, 20, &["chair"], &["lamp"], 1),
            row(5, 50, &["vase"], &[], 1),
        ]);
        assert_eq!(found(&index, &["lam"], &ALL, 0), (vec![4, 3, 2], 4));
        assert_eq!(found(&index, &["lam"], &ALL, 3), (vec![1], 4));
        let reversed = Filter { descending: true, ..ALL };
        assert_eq!(found(&index, &["lam"], &reversed, 0), (vec![1, 2, 3], 4));
        // Every word: named where every word is in the name.
        assert_eq!(found(&index, &["lamp", "des"], &ALL, 0), (vec![3, 4, 1], 3));
        assert_eq!(found(&index, &["lamps"], &ALL, 0), (vec![], 0));
        // Filters: category, active (every third is not), a shopper's.
        assert_eq!(found(&index, &["lam"], &Filter { category: Some("home"), ..ALL }, 0), (vec![4, 2], 2));
        assert_eq!(found(&index, &["lam"], &Filter { active: Some(false), ..ALL }, 0), (vec![3], 1));
        assert_eq!(found(&index, &["lam"], &Filter { shopper: true, ..ALL }, 0), (vec![4, 2, 1], 3));
        assert_eq!(found(&index, &["lam"], &Filter { category: Some("garden"), ..ALL }, 0), (vec![], 0));
        // A newer version replaces the product's words; an older one changes nothing.
        index.apply(vec![row(4, 40, &["sofa"], &["desk"], 2), row(3, 30, &["stool"], &[], 1)]);
        assert_eq!(found(&index, &["lam"], &ALL, 0), (vec![3, 2, 1], 3));
        let mut deleted = row(2, 20, &["chair"], &["lamp"], 2);
        deleted.deleted = true;
        index.apply(vec![deleted, row(2, 20, &["chair"], &["lamp"], 1)]);
        assert_eq!(found(&index, &["lam"], &ALL, 0), (vec![3, 1], 2));
        // Another tenant's products are not this one's.
        let other = Uuid::from_u128(7);
        let words = vec!["lam".to_string()];
        assert_eq!(index.search(other, &words, &ALL, 0, 3).map(|f| f.matched), Some(0));
    }

    /// A catalogue large enough for every kind of posting (one entry, a list, a bitset), written,
    /// changed, deleted and arriving out of order, searched against the same search done by hand.
    #[test]
    fn every_search_finds_what_reading_every_product_finds_through_writes_changes_and_deletes() {
        struct Held {
            created: i64,
            names: Vec<String>,
            /// The description's words.
            others: Vec<String>,
            words: Vec<String>,
            active: bool,
            category: &'static str,
            version: i64,
        }
        impl Held {
            /// Its words: the name's and the description's.
            fn worded(mut self) -> Self {
                self.words = self.names.iter().chain(&self.others).cloned().collect();
                self.words.sort();
                self.words.dedup();
                self
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        // Words as common as a catalogue's: a few in most products, some in one in 10 or 40, a
        // number in each product alone.
        let common = ["seed", "product", "lamp", "lantern", "desk", "rug", "rustic", "stool", "sofa", "vase"];
        let word = |n: u64, next: &mut dyn FnMut(u64) -> u64| match next(4) {
            0 => common[next(3) as usize].to_string(),
            1 => common[next(10) as usize].to_string(),
            2 => format!("w{}", next(40)),
            _ => format!("{n}{}", next(10)),
        };
        let tenant = Uuid::from_u128(1 << 100);
        let index = WordIndex::new(1 << 30).unwrap();
        index.state.write().unwrap().ready = true;
        let mut held: BTreeMap<u128, Held> = BTreeMap::new();
        let product = |n: u128, created: i64, version: i64, next: &mut dyn FnMut(u64) -> u64| {
            let names: Vec<String> = (0..1 + next(3)).map(|_| word(n as u64, next)).collect();
            let others: Vec<String> = (0..next(5)).map(|_| word(n as u64, next)).collect();
            let category = ["home", "garden", "office"][next(3) as usize];
            Held { created, names, others, words: Vec::new(), active: next(5) > 0, category, version }.worded()
        };
        // Ids as the service takes them, UUIDv7s whose time is within a millisecond of the
        // creation time; one in four of another version (written elsewhere), one in five far from
        // its creation time: their creation times are held whole.
        let v7 = |millis: u64, n: u128| {
            let random: [u8; 10] = n.to_be_bytes()[6..].try_into().unwrap();
            uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
        };
        let id = |n: u128| match (n % 4, n % 5) {
            (_, 0) => v7(n as u64 / 100 + 10_000_000, n),
            (0, _) => Uuid::from_u128(n),
            _ => v7(n as u64 / 100, n),
        };
        let as_row = |n: u128, h: &Held, deleted: bool| Row {
            id: id(n),
            tenant,
            category: h.category.into(),
            active: h.active,
            created: DateTime::from_timestamp_micros(h.created).unwrap(),
            updated: DateTime::from_timestamp_micros(h.created).unwrap(),
            version: h.version,
            deleted,
            names: h.names.clone(),
            words: h.words.clone(),
        };
        let check = |index: &WordIndex, held: &BTreeMap<u128, Held>| {
            let filters = [
                ALL,
                Filter { descending: true, ..ALL },
                Filter { active: Some(true), ..ALL },
                Filter { active: Some(false), category: Some("garden"), ..ALL },
                Filter { shopper: true, category: Some("office"), ..ALL },
            ];
            let searches: [&[&str]; 7] =
                [&["lamp"], &["la"], &["rus", "seed"], &["w1"], &["1"], &["12", "w"], &["s", "product", "lan"]];
            for words in searches {
                for filter in &filters {
                    let mut expected: Vec<(bool, i64, u128)> = held
                        .iter()
                        .filter(|(_, h)| words.iter().all(|w| h.words.iter().any(|x| x.starts_with(w))))
                        .filter(|(_, h)| filter.active.is_none_or(|a| a == h.active))
                        .filter(|(_, h)| !filter.shopper || h.active)
                        .filter(|(_, h)| filter.category.is_none_or(|c| c == h.category))
                        .map(|(&n, h)| {
                            let named = words.iter().all(|w| h.names.iter().any(|x| x.starts_with(w)));
                            (named, h.created, id(n).as_u128())
                        })
                        .collect();
                    expected.sort_unstable();
                    if !filter.descending {
                        expected.reverse();
                    }
                    let prefixes: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                    let found = index.search(tenant, &prefixes, filter, 0, 100_000).unwrap();
                    let ids: Vec<u128> = found.ids.iter().map(|id| id.as_u128()).collect();
                    let want: Vec<u128> = expected.iter().map(|e| e.2).collect();
                    assert_eq!(found.matched, want.len() as u64, "{words:?}");
                    assert_eq!(ids, want, "{words:?}, descending {}", filter.descending);
                }
            }
        };
        // Written in creation order, in batches as a load reads them.
        let mut rows = Vec::new();
        for n in 1..=3000u128 {
            let h = product(n, n as i64 * 10, 1, &mut next);
            rows.push(as_row(n, &h, false));
            held.insert(n, h);
            if rows.len() == 500 {
                index.apply(std::mem::take(&mut rows));
            }
        }
        {
            let state = index.state.read().unwrap();
            let t = &state.tenants[&tenant];
            assert!(!t.dense.is_empty(), "the common words are bitsets");
            assert!(t.lists.iter().any(|l| matches!(l, List::Slots(_))), "the rarer ones lists");
            assert!(t.postings.iter().any(|&(_, p)| p != NONE && p & ONE != 0), "the numbers one entry");
            let far = t.docs.iter().filter(|doc| doc.created == FAR).count();
            assert_eq!(far, 600, "the ids far from their creation time, and only those");
        }
        check(&index, &held);
        // Changed (their words, their state), deleted, and created: one of them created before
        // the newest (another instance's write arriving late), and an older version ignored.
        let mut version = 1;
        for round in 0..4 {
            let mut rows = Vec::new();
            // Another instance's import arriving newest first: each one late.
            for i in 0..100 {
                let n = 6000 + u128::from(round) * 100 + i;
                let h = product(n, 100_000 - n as i64 * 7, version, &mut next);
                rows.push(as_row(n, &h, false));
                held.insert(n, h);
            }
            for _ in 0..400 {
                version += 1;
                let n = 1 + u128::from(next(3000 + round * 50));
                match next(4) {
                    0 if held.contains_key(&n) => {
                        let mut h = held.remove(&n).unwrap();
                        h.version = version;
                        rows.push(as_row(n, &h, true));
                    }
                    _ => {
                        let created = held.get(&n).map_or(n as i64 * 10 + 5, |h| h.created);
                        let h = product(n, created, version, &mut next);
                        rows.push(as_row(n, &h, false));
                        held.insert(n, h);
                    }
                }
            }
            let late = 5000 + u128::from(round);
            let h = product(late, 15 + round as i64, version, &mut next);
            rows.push(as_row(late, &h, false));
            held.insert(late, h);
            let mut stale = product(1, 10, 1, &mut next);
            (stale.names, stale.others) = (vec!["stale".into()], Vec::new());
            let stale = stale.worded();
            rows.push(as_row(1, &stale, false));
            // Part at once (new lexemes found by hash, then put in order), the rest one by one.
            let rest = rows.split_off(300);
            index.apply(rows);
            for row in rest {
                index.apply(vec![row]);
            }
            let late = index.state.read().unwrap().tenants[&tenant].late.len();
            assert!((1..=LATE_MAX).contains(&late), "{late} late slots, the rest put in order again");
            check(&index, &held);
        }
        // Every product's words changed twice over: the runs no product holds are let go.
        for _ in 0..2 {
            let ids: Vec<u128> = held.keys().copied().collect();
            for chunk in ids.chunks(500) {
                let mut rows = Vec::new();
                for &n in chunk {
                    version += 1;
                    let created = held[&n].created;
                    let h = product(n, created, version, &mut next);
                    rows.push(as_row(n, &h, false));
                    held.insert(n, h);
                }
                index.apply(rows);
            }
        }
        {
            let state = index.state.read().unwrap();
            let t = &state.tenants[&tenant];
            assert!(t.garbage * 2 < t.words.len(), "{} of {} bytes of runs held by none", t.garbage, t.words.len());
        }
        check(&index, &held);
        // A sweep reads every live product again: most as held, some changed by hand at the same
        // version, some newer, some deleted by hand (not read), one inserted by hand.
        let garbage = index.state.read().unwrap().tenants[&tenant].garbage;
        let mut rows = Vec::new();
        let mut changed = 0;
        for (&n, h) in held.iter_mut() {
            match next(40) {
                // By hand, at the same version: a word of its name another word it had not (one
                // of the lexemes held already), or moved out of the name; its state.
                0 => {
                    let other = common.iter().find(|w| !h.words.iter().any(|x| x == *w)).unwrap();
                    h.names[0] = other.to_string();
                    *h = std::mem::replace(h, product(n, 0, 0, &mut next)).worded();
                    changed += 1;
                }
                3 => {
                    let moved = h.names.pop().unwrap();
                    if h.names.is_empty() {
                        h.names.push(common[0].to_string());
                    }
                    h.others.push(moved);
                    *h = std::mem::replace(h, product(n, 0, 0, &mut next)).worded();
                    changed += 1;
                }
                4 => {
                    h.active = !h.active;
                    changed += 1;
                }
                5 => {
                    h.category = if h.category == "home" { "garden" } else { "home" };
                    changed += 1;
                }
                1 => {
                    version += 1;
                    *h = product(n, h.created, version, &mut next);
                    changed += 1;
                }
                2 => continue, // deleted by hand: taken out below
                _ => {}
            }
            rows.push(as_row(n, h, false));
        }
        let read: std::collections::HashSet<Uuid> = rows.iter().map(|row| row.id).collect();
        held.retain(|&n, _| read.contains(&id(n)));
        let h = product(9000, 200_000, 1, &mut next);
        rows.push(as_row(9000, &h, false));
        held.insert(9000, h);
        rows.sort_by_key(|row| (row.created, row.id));
        {
            let mut state = index.state.write().unwrap();
            state.sweeping();
            let verdicts = rows.iter().map(|row| state.verdict(row)).collect();
            state.sweep(rows, verdicts);
            // Only the changed products' runs were let go (a few bytes each), not every product's.
            let let_go = state.tenants[&tenant].garbage - garbage;
            assert!(let_go <= changed * 24, "{let_go} bytes let go for {changed} changes");
            state.swept();
        }
        check(&index, &held);
        let (_, stale) = found(&index, &["stal"], &ALL, 0);
        assert_eq!(stale, 0, "an older version changes nothing");
    }

    #[test]
    fn an_index_over_its_budget_answers_nothing() {
        let index = WordIndex::new(1_000).unwrap();
        index.state.write().unwrap().ready = true;
        index.apply((0..40).map(|n| row(n, n as i64, &["lamp"], &["desk"], 1)).collect());
        let words = vec!["lam".to_string()];
        assert!(index.search(Uuid::from_u128(1 << 100), &words, &ALL, 0, 3).is_none());
        assert!(WordIndex::new(0).is_none(), "no budget, no index");
    }
}
