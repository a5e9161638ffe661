//! `cargo xtask bench scale` (also the end of `cargo xtask bench`): the service over 1,000,000
//! products, where no cache can answer: seeding them, a random id of the million, searches, and
//! keyset pages deep in the catalogue and at its end, each walked page after page by one client
//! following `nextCursor` (a page is never asked for twice within the cache's lifetime).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::bench::{
    Contender, LUA_REQUESTS, ROUND_SECONDS, ROUNDS, admin_token, alternating, bare_route, cache_lookups, curl,
    free_port, memory_mib, search_lua, seed, start_service, two, wrk,
};

/// The catalogue's size.
pub(crate) const SCALE: usize = 1_000_000;

/// A keep-alive HTTP/1.1 client: walking the catalogue takes tens of thousands of requests.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(port: u16) -> Result<Self, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Self { reader: BufReader::new(stream) })
    }

    /// The body of a 200 answer to `GET path`.
    fn get(&mut self, path: &str, header: &str) -> Result<String, String> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}\r\n\r\n");
        self.reader.get_mut().write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let status = line.split_whitespace().nth(1).unwrap_or_default().to_string();
        let mut length = None;
        loop {
            line.clear();
            self.reader.read_line(&mut line).map_err(|e| e.to_string())?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let length = length.ok_or_else(|| format!("GET {path}: no Content-Length"))?;
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        let body = String::from_utf8(body).map_err(|e| e.to_string())?;
        if status != "200" {
            return Err(format!("GET {path}: {status} {body}"));
        }
        Ok(body)
    }
}

/// What walking the whole catalogue (100 a page) found.
struct Walk {
    ids: Vec<String>,
    qualifiers: Vec<String>,
    nouns: Vec<String>,
    /// The cursor of the page `tail` pages before the end.
    tail_start: String,
}

const TAIL: usize = 2_000;

fn walk_all(port: u16, auth: &str) -> Result<Walk, String> {
    let mut client = Client::connect(port)?;
    let (mut ids, mut qualifiers, mut nouns) = (Vec::with_capacity(SCALE), Default::default(), Default::default());
    let mut cursors = Vec::new();
    let mut path = "/products?pageSize=100".to_string();
    loop {
        let body: serde_json::Value =
            serde_json::from_str(&client.get(&path, auth)?).map_err(|e| format!("GET {path}: {e}"))?;
        for product in body["data"].as_array().into_iter().flatten() {
            ids.push(product["id"].as_str().unwrap_or_default().to_string());
            collect_words(product["name"].as_str().unwrap_or_default(), &mut qualifiers, &mut nouns);
        }
        match body["nextCursor"].as_str() {
            Some(cursor) => {
                cursors.push(cursor.to_string());
                path = format!("/products?pageSize=100&cursor={cursor}");
            }
            None => break,
        }
    }
    if ids.len() < SCALE || cursors.len() < TAIL {
        return Err(format!("the walk listed {} products over {} pages", ids.len(), cursors.len() + 1));
    }
    let tail_start = cursors[cursors.len() - TAIL].clone();
    let set = |s: std::collections::BTreeSet<String>| s.into_iter().collect();
    Ok(Walk { ids, qualifiers: set(qualifiers), nouns: set(nouns), tail_start })
}

/// A name's last word is a noun; the words before it qualify it (`Rugged Leather Boot`).
pub(crate) fn collect_words(
    name: &str,
    qualifiers: &mut std::collections::BTreeSet<String>,
    nouns: &mut std::collections::BTreeSet<String>,
) {
    let words: Vec<String> = name.split_whitespace().map(str::to_lowercase).collect();
    if let Some((noun, rest)) = words.split_last() {
        nouns.insert(noun.clone());
        qualifiers.extend(rest.iter().cloned());
    }
}

/// The cursor that starts page `page` of the default listing, `size` a page.
fn cursor_of_page(port: u16, auth: &str, size: usize, page: usize) -> Result<String, String> {
    let mut client = Client::connect(port)?;
    let mut path = format!("/products?pageSize={size}");
    let mut cursor = String::new();
    for _ in 1..page {
        let body: serde_json::Value = serde_json::from_str(&client.get(&path, auth)?).map_err(|e| e.to_string())?;
        cursor = body["nextCursor"].as_str().ok_or("the catalogue ended early")?.to_string();
        path = format!("/products?pageSize={size}&cursor={cursor}");
    }
    Ok(cursor)
}

/// A wrk script in which one client walks pages by their `nextCursor`, from `start` to the end of
/// the listing and from `start` again.
fn walker(work: &Path, name: &str, size: usize, start: &str) -> Result<std::path::PathBuf, String> {
    let path = work.join(format!("{name}.lua"));
    let script = format!(
        "local start = \"/products?pageSize={size}&cursor={start}\"\nlocal path = start\n\
         request = function() return wrk.format(\"GET\", path) end\n\
         response = function(status, headers, body)\n  local c = body:match('\"nextCursor\":\"([^\"]+)\"')\n\
         if c then path = \"/products?pageSize={size}&cursor=\" .. c else path = start end\nend\n"
    );
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Waits until the service's search index holds the catalogue (`/metrics`); how long after
/// `started` it did, its products and bytes. An index that does not load within five minutes is an
/// error: the searches' row would measure the database instead.
fn search_index_loaded(base: &str, started: Instant) -> Result<(Duration, u64, u64), String> {
    loop {
        let text = curl(&[&format!("{base}/metrics")])?;
        let value = |name: &str| -> u64 {
            let line = text.lines().find(|l| l.starts_with(&format!("{name} ")));
            line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0)
        };
        let (products, bytes) = (value("commerce_search_index_products"), value("commerce_search_index_bytes"));
        if products >= SCALE as u64 {
            return Ok((started.elapsed(), products, bytes));
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!("the search index did not load within 5 minutes ({products} products held)"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Measures one database at [`SCALE`] products; returns the table rows.
pub(crate) fn measure(root: &Path, label: &str, url: &str, work: &Path) -> Result<Vec<String>, String> {
    let bin = root.join("target/release/commerce");
    let seeding = seed(&bin, url, SCALE)?;
    let port = free_port();
    let started = Instant::now();
    let (service, _) = start_service(&bin, url, port)?;
    let base = format!("http://127.0.0.1:{port}");
    let auth = format!("Authorization: Bearer {}", admin_token(&base)?);
    let walking = Instant::now();
    let walk = walk_all(port, &auth)?;
    let deep_start = cursor_of_page(port, &auth, 20, 5_000)?;
    eprintln!("bench: {label}: walked {} products in {:.1} s", walk.ids.len(), walking.elapsed().as_secs_f64());

    let ids_file = work.join(format!("{label}-scale-ids.txt"));
    std::fs::write(&ids_file, walk.ids.join("\n")).map_err(|e| e.to_string())?;
    let random_get = work.join(format!("{label}-scale-random-get.lua"));
    std::fs::write(
        &random_get,
        format!(
            "{LUA_REQUESTS}local ids = {{}}\nfor line in io.lines(\"{}\") do ids[#ids + 1] = line end\n\
             function init(args) math.randomseed(os.time() + math.random(1000000)) end\n\
             request = function() return get(\"/products/\" .. ids[math.random(#ids)]) end\n",
            ids_file.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let search = work.join(format!("{label}-scale-search.lua"));
    std::fs::write(&search, format!("{LUA_REQUESTS}{}request = search\n", search_lua(&walk.qualifiers, &walk.nouns)))
        .map_err(|e| e.to_string())?;
    let deep = walker(work, &format!("{label}-scale-page-5000"), 20, &deep_start)?;
    let tail = walker(work, &format!("{label}-scale-last-pages"), 100, &walk.tail_start)?;

    // PostgreSQL answers searches from its words in memory once they have loaded (in the
    // background from the start): how long that took, and what it holds.
    let index = match label {
        "PostgreSQL" => Some(search_index_loaded(&base, started)?),
        _ => None,
    };

    let product = curl(&[&format!("{base}/products/{}", walk.ids[SCALE / 2]), "-H", &auth])?;
    let bare = bare_route(root, work, &format!("{label}-scale"), std::slice::from_ref(&product))?;
    // The one ratio here: 32 clients' random GETs in alternating rounds with the bare route.
    let [bare_rounds, random_rounds] = two(alternating(&[
        Contender::bare(bare.url(0), None),
        Contender::service(&base, base.clone(), Some(&random_get), &auth),
    ])?)?;
    let (bare_product, random) = (bare_rounds.median(), random_rounds.median());
    let mut rows = vec![
        format!(
            "| {label} | seed {SCALE} products (`commerce seed --products {SCALE}`) | {:.1} s | | < 60 s | | | |",
            seeding.as_secs_f64()
        ),
        format!(
            "| {label} | bare poem route, a product's body ({} B) | {:.0} | 100% | | {} | {} | |",
            product.len(),
            bare_product.rps,
            bare_product.p50,
            bare_product.p99
        ),
        format!(
            "| {label} | GET /products/{{id}}, a random id of 1,000,000, 32 clients | {:.0} | {} | >= 30% (SQLite) | {} | {} | {} |",
            random.rps,
            random_rounds.ratio(&bare_rounds).percent(),
            random.p50,
            random.p99,
            random_rounds.hits
        ),
    ];
    let runs: [(&str, &Path, &str); 4] = [
        ("GET /products/{id}, a random id, one client", &random_get, ""),
        ("GET /products?search=<words as typed>, one client", &search, "p99 <= 20 ms"),
        ("GET /products?cursor=, pages 5,000 onward (20 a page), one client", &deep, "p99 <= 10 ms"),
        ("GET /products?cursor=, the last 2,000 pages (100 a page), one client", &tail, "p99 <= 10 ms"),
    ];
    for (what, script, target) in runs {
        let before = cache_lookups(&base)?;
        let load = wrk(&base, Some(script), Some(&auth), 1)?;
        let hits = cache_lookups(&base)?.hit_share_since(&before);
        rows.push(format!(
            "| {label} | {what} | {:.0} | | {target} | {} | {} | {hits} |",
            load.rps, load.p50, load.p99
        ));
    }
    if let Some((loaded, products, bytes)) = index {
        rows.push(format!(
            "| {label} | the search index in memory: {products} products in {:.1} MiB, loaded {:.1} s after the start | | | | | | |",
            bytes as f64 / f64::from(1 << 20),
            loaded.as_secs_f64()
        ));
    }
    let rss = memory_mib(service.0.id(), "VmHWM");
    let (anon, file) = (memory_mib(service.0.id(), "RssAnon"), memory_mib(service.0.id(), "RssFile"));
    rows.push(format!(
        "| {label} | peak RSS at {SCALE} products (at the end: {anon:.1} MiB its own, {file:.1} MiB file-backed) | {rss:.1} MiB ({:.1} MB) | | <= 128 MB | | | |", rss * 1.048_576
    ));
    drop(service);
    Ok(rows)
}

/// `cargo xtask bench scale`: only this part, on SQLite and (when reachable) PostgreSQL.
pub(crate) fn run(root: &Path) -> Result<String, String> {
    let work = root.join("target/bench-scale");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut rows = measure(root, "SQLite", &format!("sqlite://{}?mode=rwc", work.join("scale.db").display()), &work)?;
    rows.extend(crate::bench::on_postgres("scale", |url| measure(root, "PostgreSQL", url, &work))?);
    Ok(table(rows))
}

/// The Markdown table of the rows.
pub(crate) fn table(rows: Vec<String>) -> String {
    let mut table = format!(
        "At {SCALE} products. Load: wrk -t1 --latency on the same machine: 32 clients in {ROUNDS} rounds of {ROUND_SECONDS} s alternating with the bare route (each one's median round; the ratio the median of the rounds' ratios, the least and greatest in brackets); one client for 10 s.\n\n\
         | database | what | requests/s | of bare route | target | p50 | p99 | cache hits |\n|---|---|---|---|---|---|---|---|\n"
    );
    for row in rows {
        table.push_str(&row);
        table.push('\n');
    }
    table
}
