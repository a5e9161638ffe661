//! PostgreSQL: the catalogue's search words in memory, per tenant, for searches without a sort.
//!
//! PostgreSQL's GIN index finds a search's matches but neither orders nor counts them without
//! reading each match's product: at 10,000 products a search cost about 0.7 ms of the machine, 3% of
//! what a bare route answers. Here each tenant's live products hold slots in the order they were
//! created, each lexeme a sorted list of the slots that hold it (and whether in the name), so a
//! search is a few bitsets: its count a popcount, its page the highest bits of its groups. Only the
//! page's rows are read from the database, by id.
//!
//! The lexemes are PostgreSQL's own (`tsvector_to_array` of the index's vector and of the name's),
//! so a search finds here what the GIN index finds. The index is kept within a memory budget
//! (`--search-index-mib`): a catalogue that does not fit is searched in the database, as is any
//! search until the index has loaded. It follows this instance's writes at once (each product
//! written is read back before the write is answered, [`WordIndex::refresh`]) and other
//! instances' within a second: every second it reads the products updated since the last look,
//! less [`MARGIN`] (a write's transaction between its clock reading and its commit, and the
//! clocks' difference between instances); a row older than what it holds (by `version`) is
//! ignored. Every ten minutes it is loaded afresh, so that what no look could find is found.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value};
use uuid::Uuid;

use crate::error::AppError;

/// How far before the previous look a look for changed products starts.
pub const MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the index waits before loading again after the catalogue outgrew its budget.
const RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// How often the index is loaded afresh all the same: what no look for changes could find (a
/// write committed later than [`MARGIN`] after its clock reading, a row changed by hand without
/// its `updated_at`) is found within this; deleted products' versions are forgotten.
const RELOAD: std::time::Duration = std::time::Duration::from_secs(600);

/// Bytes a product takes here at least (its slot, id, creation time and a handful of lexemes; a
/// seeded product takes 230): a catalogue counted at more than the budget allows is not read at
/// all. A load that outgrows the budget measures what its products took, for the next count.
const PRODUCT_BYTES: usize = 150;

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
    /// Every lexeme held, in bytewise order (a prefix's lexemes are a range), by number.
    vocabulary: BTreeMap<Box<str>, u32>,
    vocabulary_bytes: usize,
    tenants: HashMap<Uuid, Tenant>,
    /// Every product seen: its tenant, its slot (none once deleted) and version.
    products: HashMap<Uuid, Known>,
    /// Posting entries held, over every tenant.
    entries: usize,
}

#[derive(Clone, Copy)]
struct Known {
    tenant: Uuid,
    slot: Option<u32>,
    version: i64,
}

/// One tenant's products.
#[derive(Default)]
struct Tenant {
    docs: Vec<Doc>,
    /// By lexeme: `slot << 1 | in_name` of each product holding it, in slot order.
    postings: HashMap<u32, Vec<u32>>,
    live: Bits,
    active: Bits,
    categories: Vec<(Box<str>, Bits)>,
    /// Whether the slots are in creation order (by creation time, then id); when not (a product
    /// created on another instance arriving after a newer one), pages are sorted.
    ordered: bool,
}

struct Doc {
    id: Uuid,
    created: i64,
    category: u16,
    /// `lexeme << 1 | in_name` of each of its lexemes.
    words: Box<[u32]>,
}

/// A bitset over a tenant's slots.
#[derive(Default, Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn get(&self, slot: usize) -> bool {
        self.0.get(slot / 64).is_some_and(|word| word >> (slot % 64) & 1 == 1)
    }
    fn zeros(slots: usize) -> Self {
        Self(vec![0; slots.div_ceil(64)])
    }
    fn set(&mut self, slot: u32, on: bool) {
        let (word, bit) = ((slot / 64) as usize, slot % 64);
        if word >= self.0.len() {
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
        let slots = t.docs.len();
        let (mut any, mut named) = (t.live.clone(), t.live.clone());
        any.0.resize(slots.div_ceil(64), 0);
        named.0.resize(slots.div_ceil(64), 0);
        for prefix in prefixes {
            let (mut holds, mut in_name) = (Bits::zeros(slots), Bits::zeros(slots));
            let upper = super::products::successor(prefix);
            let range = (Bound::Included(prefix.as_str()), upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded));
            for (_, lexeme) in state.vocabulary.range::<str, _>(range) {
                for &entry in t.postings.get(lexeme).map(Vec::as_slice).unwrap_or_default() {
                    holds.set(entry >> 1, true);
                    if entry & 1 == 1 {
                        in_name.set(entry >> 1, true);
                    }
                }
            }
            any.and(&holds);
            named.and(&in_name);
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
                None => any = Bits::zeros(slots),
            }
        }
        named.and(&any);
        let mut elsewhere = any.clone();
        elsewhere.and_not(&named);
        let matched = any.count();
        let (offset, size) = (usize::try_from(offset).unwrap_or(usize::MAX), usize::try_from(size).unwrap_or(0));
        let groups = match filter.descending {
            false => [&named, &elsewhere],
            true => [&elsewhere, &named],
        };
        // Newest first: the highest slots, where they are in creation order.
        let ids = if t.ordered {
            let newest = !filter.descending;
            let slots = groups[0].slots(newest).chain(groups[1].slots(newest));
            slots.skip(offset).take(size).map(|slot| t.docs[slot as usize].id).collect()
        } else {
            let mut all: Vec<(bool, i64, Uuid)> = Vec::new();
            for (group, bits) in [(true, &named), (false, &elsewhere)] {
                all.extend(
                    bits.slots(true).map(|slot| (group, t.docs[slot as usize].created, t.docs[slot as usize].id)),
                );
            }
            all.sort_unstable();
            if !filter.descending {
                all.reverse();
            }
            all.into_iter().skip(offset).take(size).map(|(_, _, id)| id).collect()
        };
        Some(Found { ids, matched })
    }

    /// Reads the product `id` again and applies it, after this instance wrote it: its next search
    /// finds what it wrote. A failure to read makes the index unusable until it has loaded again.
    pub async fn refresh(&self, db: &DatabaseConnection, id: Uuid) {
        let _applying = self.applying.lock().await;
        if !self.state.read().unwrap_or_else(|e| e.into_inner()).ready {
            return; // a load in progress reads it: it was committed before the load catches up
        }
        match read(db, "id = $1", vec![id.into()]).await {
            Ok(rows) => self.apply(rows),
            Err(error) => {
                tracing::warn!(%error, "cannot read a written product back into the search index; searching the database until it has loaded again");
                *self.state.write().unwrap_or_else(|e| e.into_inner()) = State::default();
            }
        }
    }

    /// Loads the index when it has none (and afresh every [`RELOAD`], the loaded one answering
    /// meanwhile), or else applies what changed since the last look. Run every second.
    pub async fn follow(&self, db: &DatabaseConnection) -> Result<(), AppError> {
        let (ready, since, over_budget, loaded) = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            (state.ready, state.since, state.over_budget, state.loaded)
        };
        if !ready || loaded.is_some_and(|at| at.elapsed() >= RELOAD) {
            if over_budget.is_some_and(|at| at.elapsed() < RETRY) {
                return Ok(());
            }
            return self.load(db).await;
        }
        let _applying = self.applying.lock().await;
        let started = Utc::now() - MARGIN;
        let rows = read(db, "updated_at > $1", vec![since.unwrap_or(started).into()]).await?;
        self.apply(rows);
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.ready {
            state.since = Some(started);
        }
        Ok(())
    }

    async fn load(&self, db: &DatabaseConnection) -> Result<(), AppError> {
        let counted = Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM product_counts",
        );
        let live: i64 = match db.query_one_raw(counted).await? {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        let product_bytes = self.product_bytes.load(std::sync::atomic::Ordering::Relaxed);
        if usize::try_from(live).unwrap_or(usize::MAX).saturating_mul(product_bytes) > self.budget {
            self.over_budget(live);
            return Ok(());
        }
        let started = Utc::now() - MARGIN;
        // In chunks by id, so that what is read at once stays small.
        let (mut state, mut after) = (State::default(), Uuid::nil());
        loop {
            let condition = "deleted_at IS NULL AND id > $1 ORDER BY id LIMIT 4096";
            let rows = read(db, condition, vec![after.into()]).await?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for row in rows {
                state.apply(row);
            }
            if state.bytes() > self.budget {
                let products = state.products.len().max(1);
                self.product_bytes.fetch_max(state.bytes() / products, std::sync::atomic::Ordering::Relaxed);
                self.over_budget(live);
                return Ok(());
            }
        }
        // What was written while it was read, with every write's refresh waiting.
        let _applying = self.applying.lock().await;
        for row in read(db, "updated_at > $1", vec![started.into()]).await? {
            state.apply(row);
        }
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
            state.apply(row);
        }
        state.order();
        if state.bytes() > self.budget {
            drop(state);
            self.over_budget(-1);
        }
    }
}

impl State {
    /// Renumbers the slots of each tenant whose slots are not in creation order (the rows of a
    /// load come in no order; a product created on another instance may arrive after a newer
    /// one), leaving out the slots of deleted products.
    fn order(&mut self) {
        let State { tenants, products, .. } = self;
        for t in tenants.values_mut().filter(|t| !t.ordered) {
            let old = std::mem::take(t);
            let mut docs: Vec<(Doc, bool)> = old
                .docs
                .into_iter()
                .enumerate()
                .filter(|(slot, _)| old.live.get(*slot))
                .map(|(slot, doc)| (doc, old.active.get(slot)))
                .collect();
            docs.sort_unstable_by_key(|(doc, _)| (doc.created, doc.id));
            t.ordered = true;
            t.categories = old.categories.into_iter().map(|(name, _)| (name, Bits::default())).collect();
            for (doc, active) in docs {
                let id = doc.id;
                let slot = t.put(None, doc, active);
                if let Some(known) = products.get_mut(&id) {
                    known.slot = Some(slot);
                }
            }
        }
    }

    /// The bytes held, about.
    fn bytes(&self) -> usize {
        let docs: usize = self.tenants.values().map(|t| t.docs.len()).sum();
        // A doc, its entry in `products`, and each lexeme twice (the doc's and the posting's).
        docs * (std::mem::size_of::<Doc>() + 48) + self.entries * 8 + self.vocabulary_bytes
    }

    fn apply(&mut self, row: Row) {
        let known = self.products.get(&row.id).copied();
        if known.is_some_and(|known| known.version >= row.version) {
            return; // what the index holds is as new
        }
        let slot = match known {
            Some(Known { tenant, slot: Some(slot), .. }) => {
                if let Some(t) = self.tenants.get_mut(&tenant) {
                    self.entries -= t.remove(slot);
                }
                (tenant == row.tenant).then_some(slot)
            }
            _ => None,
        };
        if row.deleted {
            self.products.insert(row.id, Known { tenant: row.tenant, slot: None, version: row.version });
            return;
        }
        let mut words: Vec<u32> = Vec::with_capacity(row.words.len());
        for lexeme in &row.words {
            let next = u32::try_from(self.vocabulary.len()).unwrap_or(u32::MAX);
            let number = match self.vocabulary.get(lexeme.as_str()) {
                Some(&number) => number,
                None => {
                    self.vocabulary_bytes += lexeme.len() + 48;
                    self.vocabulary.insert(lexeme.as_str().into(), next);
                    next
                }
            };
            words.push(number << 1 | u32::from(row.names.contains(lexeme)));
        }
        self.entries += words.len();
        let t = self.tenants.entry(row.tenant).or_insert_with(|| Tenant { ordered: true, ..Tenant::default() });
        let category = match t.categories.iter().position(|(name, _)| **name == *row.category) {
            Some(at) => at,
            None => {
                t.categories.push((row.category.as_str().into(), Bits::default()));
                t.categories.len() - 1
            }
        };
        let doc = Doc {
            id: row.id,
            created: row.created.timestamp_micros(),
            category: u16::try_from(category).unwrap_or(u16::MAX),
            words: words.into(),
        };
        let slot = t.put(slot, doc, row.active);
        self.products.insert(row.id, Known { tenant: row.tenant, slot: Some(slot), version: row.version });
    }
}

impl Tenant {
    /// Puts `doc` in `slot` (the one it held before it changed) or in a new one; its slot.
    fn put(&mut self, slot: Option<u32>, doc: Doc, active: bool) -> u32 {
        let slot = match slot {
            Some(slot) => slot,
            None => {
                if let Some(last) = self.docs.last()
                    && (last.created, last.id) > (doc.created, doc.id)
                {
                    self.ordered = false;
                }
                self.docs.push(Doc { id: doc.id, created: doc.created, category: 0, words: Box::new([]) });
                u32::try_from(self.docs.len() - 1).unwrap_or(u32::MAX)
            }
        };
        for &word in &doc.words {
            let list = self.postings.entry(word >> 1).or_default();
            let entry = slot << 1 | (word & 1);
            let at = list.partition_point(|&e| e >> 1 < slot);
            list.insert(at, entry);
        }
        self.live.set(slot, true);
        self.active.set(slot, active);
        if let Some((_, bits)) = self.categories.get_mut(usize::from(doc.category)) {
            bits.set(slot, true);
        }
        self.docs[slot as usize] = doc;
        slot
    }

    /// Takes the product out of `slot`; the posting entries it held.
    fn remove(&mut self, slot: u32) -> usize {
        let Some(doc) = self.docs.get_mut(slot as usize) else {
            return 0;
        };
        let words = std::mem::take(&mut doc.words);
        for &word in words.iter() {
            if let Some(list) = self.postings.get_mut(&(word >> 1)) {
                list.retain(|&e| e >> 1 != slot);
                if list.is_empty() {
                    self.postings.remove(&(word >> 1));
                }
            }
        }
        self.live.set(slot, false);
        self.active.set(slot, false);
        if let Some((_, bits)) = self.categories.get_mut(usize::from(doc.category)) {
            bits.set(slot, false);
        }
        words.len()
    }
}

/// The products `condition` selects (its parameters bound to `values`), with their lexemes.
async fn read(db: &DatabaseConnection, condition: &str, values: Vec<Value>) -> Result<Vec<Row>, AppError> {
    let statement = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        format!(
            "SELECT id, tenant_id, category, active, created_at, version, deleted_at IS NOT NULL AS deleted, \
             array_to_json(tsvector_to_array(to_tsvector('english', name)))::text AS names, \
             array_to_json(tsvector_to_array(search))::text AS words FROM products WHERE {condition}"
        ),
        values,
    );
    let lexemes = |text: String| -> Result<Vec<String>, AppError> {
        serde_json::from_str(&text).map_err(|e| AppError::Internal(format!("a product's lexemes: {e}")))
    };
    let mut rows = Vec::new();
    for row in db.query_all_raw(statement).await? {
        rows.push(Row {
            id: row.try_get("", "id")?,
            tenant: row.try_get("", "tenant_id")?,
            category: row.try_get("", "category")?,
            active: row.try_get("", "active")?,
            created: row.try_get("", "created_at")?,
            version: row.try_get("", "version")?,
            deleted: row.try_get("", "deleted")?,
            names: lexemes(row.try_get("", "names")?)?,
            words: lexemes(row.try_get("", "words")?)?,
        });
    }
    Ok(rows)
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

    #[test]
    fn an_index_over_its_budget_answers_nothing() {
        let index = WordIndex::new(1_000).unwrap();
        index.state.write().unwrap().ready = true;
        index.apply((0..20).map(|n| row(n, n as i64, &["lamp"], &["desk"], 1)).collect());
        let words = vec!["lam".to_string()];
        assert!(index.search(Uuid::from_u128(1 << 100), &words, &ALL, 0, 3).is_none());
        assert!(WordIndex::new(0).is_none(), "no budget, no index");
    }
}
