//! `cargo xtask bench`: the release server under a real load generator (wrk), against a bare poem
//! route serving a static JSON body of the same size, measured in the same run, on SQLite and (when a
//! server is reachable) PostgreSQL. Prints a Markdown table; BENCHMARKS.md records it.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

pub(crate) const ADMIN_PASSWORD: &str = "bench-admin-password";
const PRODUCTS: usize = 10_000;

/// One load-generator run.
pub(crate) struct Load {
    pub(crate) rps: f64,
    pub(crate) p50: String,
    pub(crate) p99: String,
}

/// A server process that is killed when dropped.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A minimal HTTP/1.0 GET (no client library in xtask): the status code, or None if not answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

pub(crate) fn curl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("curl").args(["-fsS"]).args(args).output().map_err(|e| format!("curl: {e}"))?;
    if !out.status.success() {
        return Err(format!("curl {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

pub(crate) fn json_field(json: &str, pointer: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("{e}: {json}"))?;
    value.pointer(pointer).and_then(|v| v.as_str()).map(String::from).ok_or_else(|| format!("no {pointer} in {json}"))
}

/// wrk on `url` with the credential header `credential` (`Authorization: Bearer ...`, `X-API-Key: ...`).
pub(crate) fn wrk(url: &str, script: Option<&Path>, credential: Option<&str>, clients: usize) -> Result<Load, String> {
    wrk_for(url, script, credential, clients, 10)
}

/// [`wrk`] for `seconds`.
fn wrk_for(
    url: &str,
    script: Option<&Path>,
    credential: Option<&str>,
    clients: usize,
    seconds: u32,
) -> Result<Load, String> {
    let mut command = Command::new("wrk");
    command.args(["-t1", &format!("-c{clients}"), &format!("-d{seconds}s"), "--latency"]);
    if let Some(header) = credential {
        command.args(["-H", header]);
    }
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let out = command.arg(url).output().map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if text.contains("Non-2xx or 3xx responses") {
        return Err(format!("a run with non-2xx responses is no measurement:\n{text}"));
    }
    let field = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()));
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok()).ok_or_else(|| format!("no Requests/sec:\n{text}"))?;
    Ok(Load { rps, p50: field("50%").unwrap_or_default(), p99: field("99%").unwrap_or_default() })
}

/// One load of a set measured in alternating rounds ([`alternating`]), 32 clients: what wrk
/// runs, and the service whose product cache it reads (`None` for the bare route).
pub(crate) struct Contender<'a> {
    url: String,
    script: Option<&'a Path>,
    credential: Option<&'a str>,
    service: Option<&'a str>,
}

impl<'a> Contender<'a> {
    /// The bare route at `url` (with `script`), 32 clients.
    pub(crate) fn bare(url: String, script: Option<&'a Path>) -> Self {
        Self { url, script, credential: None, service: None }
    }

    /// The service at `base`: `url` on it (with `script`) with `credential`, 32 clients.
    pub(crate) fn service(base: &'a str, url: String, script: Option<&'a Path>, credential: &'a str) -> Self {
        Self { url, script, credential: Some(credential), service: Some(base) }
    }
}

/// Rounds of each load a ratio compares, in turn.
pub(crate) const ROUNDS: usize = 5;
/// Seconds of each round.
pub(crate) const ROUND_SECONDS: u32 = 4;

/// One load's rounds in [`alternating`], in the order they ran, and the share of its product-cache
/// lookups the cache answered over all of them.
pub(crate) struct Rounds {
    loads: Vec<Load>,
    pub(crate) hits: String,
}

/// A ratio of two loads' requests per second, round by round: the median round's, the least and
/// the greatest.
pub(crate) struct Ratio {
    pub(crate) median: f64,
    pub(crate) least: f64,
    pub(crate) most: f64,
}

impl Rounds {
    /// The median round by requests per second: the one its row shows.
    pub(crate) fn median(&self) -> &Load {
        let mut loads: Vec<&Load> = self.loads.iter().collect();
        loads.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        loads[loads.len() / 2]
    }

    /// Its requests per second over `other`'s in each round (the two measured seconds apart), the
    /// median of those: a machine that slows for a while slows both loads of a round, where the
    /// ratio of each one's median round could take one from a slow moment and the other from a
    /// fast one.
    pub(crate) fn ratio(&self, other: &Rounds) -> Ratio {
        let mut ratios: Vec<f64> = self.loads.iter().zip(&other.loads).map(|(a, b)| a.rps / b.rps).collect();
        ratios.sort_by(f64::total_cmp);
        Ratio { median: ratios[ratios.len() / 2], least: ratios[0], most: ratios[ratios.len() - 1] }
    }
}

impl Ratio {
    /// As a share, with its spread: `15.2% (13.9-16.8)`.
    pub(crate) fn percent(&self) -> String {
        format!("{:.1}% ({:.1}-{:.1})", 100.0 * self.median, 100.0 * self.least, 100.0 * self.most)
    }

    /// As a fraction, with its spread: `0.93 (0.88-0.97)`.
    pub(crate) fn fraction(&self) -> String {
        format!("{:.2} ({:.2}-{:.2})", self.median, self.least, self.most)
    }
}

/// Measures `contenders` in alternating rounds ([`ROUNDS`] of [`ROUND_SECONDS`] each, one after
/// the other, all of them each round): each one's rounds, and the share of its product-cache
/// lookups the cache answered. A ratio of loads measured minutes apart took whatever the machine
/// or the database did meanwhile (here the bare route served 45k-102k requests/s within one run);
/// in turns, each load meets the same moments. Each round starts one contender later than the one
/// before, so that none always runs right after the same other (orders right after orders, on a
/// log the earlier ones filled).
pub(crate) fn alternating(contenders: &[Contender]) -> Result<Vec<Rounds>, String> {
    let mut rounds: Vec<Vec<Load>> = contenders.iter().map(|_| Vec::new()).collect();
    let mut lookups: Vec<Lookups> = contenders.iter().map(|_| Lookups::default()).collect();
    for round in 0..ROUNDS {
        for turn in 0..contenders.len() {
            let n = (round + turn) % contenders.len();
            let c = &contenders[n];
            let before = c.service.map(cache_lookups).transpose()?;
            rounds[n].push(wrk_for(&c.url, c.script, c.credential, 32, ROUND_SECONDS)?);
            if let (Some(base), Some(before)) = (c.service, before) {
                let seen = cache_lookups(base)?.since(&before);
                (lookups[n].hits, lookups[n].misses) = (lookups[n].hits + seen.hits, lookups[n].misses + seen.misses);
            }
        }
    }
    Ok(rounds
        .into_iter()
        .zip(lookups)
        .map(|(loads, lookups)| Rounds { loads, hits: lookups.hit_share_since(&Lookups::default()) })
        .collect())
}

/// The loads of [`alternating`] of two contenders.
pub(crate) fn two(loads: Vec<Rounds>) -> Result<[Rounds; 2], String> {
    <[_; 2]>::try_from(loads).map_err(|loads| format!("{} loads, not 2", loads.len()))
}

/// The loads of [`alternating`] of three contenders.
fn three(loads: Vec<Rounds>) -> Result<[Rounds; 3], String> {
    <[_; 3]>::try_from(loads).map_err(|loads| format!("{} loads, not 3", loads.len()))
}

/// The product cache's lookups so far, from `/metrics`.
#[derive(Default)]
pub(crate) struct Lookups {
    hits: f64,
    misses: f64,
}

impl Lookups {
    /// The share of the lookups since `before` that the cache answered.
    pub(crate) fn hit_share_since(&self, before: &Lookups) -> String {
        let (hits, misses) = (self.hits - before.hits, self.misses - before.misses);
        if hits + misses == 0.0 { "-".into() } else { format!("{:.0}%", 100.0 * hits / (hits + misses)) }
    }

    /// The lookups between `before` and this.
    fn since(&self, before: &Lookups) -> Lookups {
        Lookups { hits: self.hits - before.hits, misses: self.misses - before.misses }
    }
}

pub(crate) fn cache_lookups(base: &str) -> Result<Lookups, String> {
    let text = curl(&[&format!("{base}/metrics")])?;
    let (mut hits, mut misses) = (0.0, 0.0);
    for line in text.lines().filter(|l| l.starts_with("commerce_product_cache_total{")) {
        let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        if line.contains("outcome=\"hit\"") {
            hits += value;
        } else if line.contains("outcome=\"miss\"") {
            misses += value;
        }
    }
    Ok(Lookups { hits, misses })
}

/// A bare poem route serving fixed bodies at `/static/0`, `/static/1`, ...
pub(crate) struct Bare {
    port: u16,
    _server: Server,
}

impl Bare {
    pub(crate) fn url(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}/static/{n}", self.port)
    }
}

/// Starts the bare route over `bodies` (written under `work` as `{label}-{n}.json`).
pub(crate) fn bare_route(root: &Path, work: &Path, label: &str, bodies: &[String]) -> Result<Bare, String> {
    let port = free_port();
    let mut bare = Command::new(root.join("target/release/examples/bare_route"));
    bare.arg(format!("127.0.0.1:{port}"));
    for (n, body) in bodies.iter().enumerate() {
        let file = work.join(format!("{label}-{n}.json"));
        std::fs::write(&file, body).map_err(|e| e.to_string())?;
        bare.arg(file);
    }
    let server = Server(bare.stdout(Stdio::null()).spawn().map_err(|e| e.to_string())?);
    while http_status(port, "/static/0") != Some(200) {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(Bare { port, _server: server })
}

/// Lua for wrk that every script of a varied load starts with: `remembered(make)`, which builds a
/// request once per key and keeps it (up to 200,000 of them: past that, each is built when sent),
/// and `get(path)`, a GET of `path` built from the request `wrk.format` makes (the same headers and
/// credential) with only its path put in. The load generator shares the machine's two cores with
/// what it measures, and the bare route it is compared with is driven with one static request:
/// `wrk.format` for each request cost wrk 7.6-8.3 us of its own CPU an order of a random product,
/// a request kept 3.3-3.6 us (static ones 1.8 us), by hand on a 2-core AMD EPYC machine. The requests sent,
/// and how often each is sent, are the same either way.
pub(crate) const LUA_REQUESTS: &str = "local function remembered(make)\n\
     local made, count = {}, 0\n\
     return function(key)\n\
       local request = made[key]\n\
       if request == nil then\n\
         request = make(key)\n\
         if count < 200000 then made[key] = request; count = count + 1 end\n\
       end\n\
       return request\n\
     end\n\
   end\n\
   local function split(request, mark)\n\
     local at = string.find(request, mark, 1, true)\n\
     return string.sub(request, 1, at - 1), string.sub(request, at + #mark)\n\
   end\n\
   local get_head, get_tail = split(wrk.format(\"GET\", \"\\1\"), \"\\1\")\n\
   local get = remembered(function(path) return get_head .. path .. get_tail end)\n";

/// Lua for wrk (after [`LUA_REQUESTS`]): `pick`, and `search()`, a search as people type them:
/// the first letters of a noun, or a word and the first letters of a noun after it, on one of the
/// first three pages, so that few of them repeat within the cache's second.
pub(crate) fn search_lua(qualifiers: &[String], nouns: &[String]) -> String {
    format!(
        "local qualifiers = {}\nlocal nouns = {}\n\
         local function pick(t) return t[math.random(#t)] end\n\
         local function typed(w) return string.sub(w, 1, math.random(math.min(3, #w), #w)) end\n\
         local function search()\n  local q = typed(pick(nouns))\n\
         if math.random(3) > 1 then q = pick(qualifiers) .. \"%20\" .. q end\n\
         return get(\"/products?pageSize=20&page=\" .. math.random(3) .. \"&search=\" .. q)\nend\n\
         function init(args) math.randomseed(os.time() + math.random(1000000)) end\n",
        lua_array(qualifiers),
        lua_array(nouns)
    )
}

/// Runs `measure` on a PostgreSQL database of its own (created, then dropped), when a server is
/// reachable (`COMMERCE_BENCH_POSTGRES`, by default the local one).
pub(crate) fn on_postgres(
    purpose: &str,
    measure: impl FnOnce(&str) -> Result<Vec<String>, String>,
) -> Result<Vec<String>, String> {
    let admin =
        std::env::var("COMMERCE_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("commerce_bench_{purpose}_{}", std::process::id());
    let created = Command::new("psql").args([&admin, "-qc", &format!("CREATE DATABASE {name}")]).output();
    match created {
        Ok(out) if out.status.success() => {
            let (server, _) = admin.rsplit_once('/').unwrap_or((&admin, ""));
            let result = measure(&format!("{server}/{name}"));
            let _ = Command::new("psql").args([&admin, "-qc", &format!("DROP DATABASE {name} WITH (FORCE)")]).output();
            result
        }
        _ => {
            eprintln!("bench: PostgreSQL at {admin} is not reachable; measuring SQLite only");
            Ok(Vec::new())
        }
    }
}

/// A memory figure of `/proc/<pid>/status` (`VmHWM`, `RssAnon`, `RssFile`), in MiB.
pub(crate) fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

pub(crate) fn start_service(bin: &Path, url: &str, port: u16) -> Result<(Server, Duration), String> {
    let started = Instant::now();
    let child = Command::new(bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .env("COMMERCE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("COMMERCE_RATE_LIMIT_STANDARD", "1000000000")
        // The contract testers send many requests without credentials and many failing logins.
        .env("COMMERCE_RATE_LIMIT_UNAUTHENTICATED", "1000000000")
        .env("COMMERCE_LOGIN_MAX_FAILURES", "1000000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the service: {e}"))?;
    let server = Server(child);
    while http_status(port, "/openapi.json") != Some(200) {
        if started.elapsed() > Duration::from_secs(30) {
            return Err("the service was not ready within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok((server, started.elapsed()))
}

/// `commerce seed --products {products}` over `url`; how long it took.
pub(crate) fn seed(bin: &Path, url: &str, products: usize) -> Result<Duration, String> {
    let started = Instant::now();
    let seed = Command::new(bin)
        .args(["seed", "--products", &products.to_string()])
        .env("DATABASE_URL", url)
        .env("COMMERCE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .output()
        .map_err(|e| e.to_string())?;
    if !seed.status.success() {
        return Err(format!("seeding failed: {}", String::from_utf8_lossy(&seed.stderr)));
    }
    Ok(started.elapsed())
}

/// An access token of the demo tenant's admin, from the service at `base`.
pub(crate) fn admin_token(base: &str) -> Result<String, String> {
    let login = curl(&[
        &format!("{base}/auth/login"),
        "-H",
        "content-type: application/json",
        "-d",
        &format!(r#"{{"tenant":"demo","email":"admin@example.com","password":"{ADMIN_PASSWORD}"}}"#),
    ])?;
    json_field(&login, "/accessToken")
}

/// Measures one database; returns the table rows.
fn measure(root: &Path, label: &str, url: &str, work: &Path) -> Result<Vec<String>, String> {
    let bin = root.join("target/release/commerce");
    seed(&bin, url, PRODUCTS)?;
    // A server-to-server integration's credential, created before the service starts.
    let created = Command::new(&bin)
        .args(["api-key", "create", "--tenant", "demo", "--name", "bench", "--scopes", "products:read,orders:write"])
        .env("DATABASE_URL", url)
        .output()
        .map_err(|e| e.to_string())?;
    if !created.status.success() {
        return Err(format!("creating an API key failed: {}", String::from_utf8_lossy(&created.stderr)));
    }
    let api_key = format!("X-API-Key: {}", String::from_utf8_lossy(&created.stdout).trim());
    let port = free_port();
    let (service, ready) = start_service(&bin, url, port)?;
    let base = format!("http://127.0.0.1:{port}");
    let token = admin_token(&base)?;
    let auth = format!("Authorization: Bearer {token}");
    let page = curl(&[&format!("{base}/products?pageSize=1&search=seeded&active=true"), "-H", &auth])?;
    let product_id = json_field(&page, "/data/0/id")?;
    let product = curl(&[&format!("{base}/products/{product_id}"), "-H", &auth])?;
    let customer = curl(&[
        &format!("{base}/customers"),
        "-H",
        &auth,
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"email":"bench@example.com","firstName":"Bench","lastName":"Mark"}"#,
    ])?;
    let customer_id = json_field(&customer, "/id")?;
    let list_path = "/products?pageSize=20&category=footwear&sort=price";
    let listed = curl(&[&format!("{base}{list_path}"), "-H", &auth])?;
    let order_body = format!(
        r#"{{"customerId":"{customer_id}","items":[{{"productId":"{product_id}","quantity":1}}],"shippingAddress":{{"name":"B","line1":"1 Main St","city":"Town","postalCode":"1000","country":"US"}}}}"#
    );
    let placed =
        curl(&[&format!("{base}/orders"), "-H", &auth, "-H", "content-type: application/json", "-d", &order_body])?;

    // The real workload's inputs: every product id (the active ones can be ordered) and the words
    // of their names, read through the API.
    let catalogue = Catalogue::read(&base, &auth)?;
    let word = &catalogue.nouns[0];
    let searched = curl(&[&format!("{base}/products?pageSize=20&search={word}"), "-H", &auth])?;
    let last_page = PRODUCTS.div_ceil(20);
    let deep = curl(&[&format!("{base}/products?pageSize=20&page={last_page}"), "-H", &auth])?;

    // The baselines: each endpoint's own response body, from a bare poem route.
    let bodies = [product.clone(), listed.clone(), placed.clone(), searched.clone(), deep.clone()];
    let bare = bare_route(root, work, label, &bodies)?;

    let order_script = work.join(format!("{label}-order.lua"));
    std::fs::write(
        &order_script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [[{order_body}]]\n"
        ),
    )
    .map_err(|e| e.to_string())?;

    let scripts = catalogue.scripts(work, label, &customer_id, last_page)?;
    let bearer = format!("Authorization: Bearer {token}");
    // Each endpoint in alternating rounds with the bare route serving a body of the same size, and
    // with the endpoints it is compared with (a bearer token's GETs with an API key's).
    let bare_of = |n: usize| Contender::bare(bare.url(n), None);
    let on = |url: String, script, credential| Contender::service(&base, url, script, credential);
    let product_url = format!("{base}/products/{product_id}");
    let [bare_product, get, keyed] =
        three(alternating(&[bare_of(0), on(product_url.clone(), None, &bearer), on(product_url, None, &api_key)])?)?;
    let [bare_random, random_get, random_keyed] = three(alternating(&[
        bare_of(0),
        on(base.clone(), Some(&scripts.random_get), &bearer),
        on(base.clone(), Some(&scripts.random_get), &api_key),
    ])?)?;
    let [bare_list, list] = two(alternating(&[bare_of(1), on(format!("{base}{list_path}"), None, &bearer)])?)?;
    let [bare_search, search] = two(alternating(&[bare_of(3), on(base.clone(), Some(&scripts.search), &bearer)])?)?;
    let [bare_deep, deep_pages, keyset_pages] = three(alternating(&[
        bare_of(4),
        on(base.clone(), Some(&scripts.deep_pages), &bearer),
        on(base.clone(), Some(&scripts.keyset_pages), &bearer),
    ])?)?;
    let orders_url = format!("{base}/orders");
    let [bare_order, order, random_order] = three(alternating(&[
        bare_of(2),
        on(orders_url.clone(), Some(&order_script), &bearer),
        on(orders_url, Some(&scripts.random_order), &bearer),
    ])?)?;
    let bare_mixed_url = bare.url(0).replace("/static/0", "/");
    let [bare_mixed, mixed] = two(alternating(&[
        Contender::bare(bare_mixed_url, Some(&scripts.bare_mixed)),
        on(base.clone(), Some(&scripts.mixed), &bearer),
    ])?)?;
    let pid = service.0.id();
    // The peak, and what is resident at the end: the process's own memory, and the pages of the
    // database file SQLite maps (`mmap_size`), which the kernel shares and can reclaim.
    let (rss, anon, file) = (memory_mib(pid, "VmHWM"), memory_mib(pid, "RssAnon"), memory_mib(pid, "RssFile"));
    drop(service);
    // Start-to-ready on the existing (migrated, seeded) database.
    let (_again, ready_existing) = start_service(&bin, url, free_port())?;

    let bare_row = |what: &str, bytes: usize, bare: &Rounds| {
        let bare = bare.median();
        format!(
            "| {label} | bare poem route, the {what}'s body ({bytes} B) | {:.0} | 100% | | {} | {} | |",
            bare.rps, bare.p50, bare.p99
        )
    };
    let row = |name: &str, rounds: &Rounds, bare: &Rounds, target: &str| {
        let load = rounds.median();
        format!(
            "| {label} | {name} | {:.0} | {} | {target} | {} | {} | {} |",
            load.rps,
            rounds.ratio(bare).percent(),
            load.p50,
            load.p99,
            rounds.hits
        )
    };
    let random_target = if label == "SQLite" { ">= 30%" } else { ">= 15%" };
    Ok(vec![
        bare_row("product", product.len(), &bare_product),
        row("GET /products/{id}, one id (cached)", &get, &bare_product, ">= 50%"),
        row(
            "GET /products/{id} with an API key",
            &keyed,
            &bare_product,
            &format!(">= 0.9 of the bearer GET: {}", keyed.ratio(&get).fraction()),
        ),
        bare_row("product", product.len(), &bare_random),
        row(&format!("GET /products/{{id}}, a random id of {PRODUCTS}"), &random_get, &bare_random, random_target),
        row(
            "GET /products/{id}, a random id, with an API key",
            &random_keyed,
            &bare_random,
            &format!(">= 0.9 of the bearer GET: {}", random_keyed.ratio(&random_get).fraction()),
        ),
        bare_row("list", listed.len(), &bare_list),
        row("GET /products?pageSize=20&category&sort", &list, &bare_list, ">= 25%"),
        bare_row("search", searched.len(), &bare_search),
        row("GET /products?search=<words as typed>&page=<1-3>", &search, &bare_search, ">= 10%"),
        bare_row("last page", deep.len(), &bare_deep),
        row(
            &format!("GET /products?page=<random of the last half, up to {last_page}>&sort&order"),
            &deep_pages,
            &bare_deep,
            "",
        ),
        row(
            &format!("GET /products?cursor=<the nextCursor of a random page of {last_page}>"),
            &keyset_pages,
            &bare_deep,
            "",
        ),
        bare_row("order", placed.len(), &bare_order),
        row("POST /orders (1 line, one product)", &order, &bare_order, ">= 10%"),
        row("POST /orders (1 line, a random product)", &random_order, &bare_order, ">= 15% (SQLite)"),
        {
            let bare = bare_mixed.median();
            format!(
                "| {label} | bare poem route, the same mix of bodies | {:.0} | 100% | | {} | {} | |",
                bare.rps, bare.p50, bare.p99
            )
        },
        row("mixed: 60% random GET, 20% listings, 15% searches, 5% orders", &mixed, &bare_mixed, ""),
        format!(
            "| {label} | peak RSS of the service (at the end: {anon:.1} MiB its own, {file:.1} MiB file-backed) | {rss:.1} MiB ({:.1} MB) | | <= 64 MB | | | |",
            rss * 1.048_576
        ),
        format!(
            "| {label} | start to ready | first start {} ms, existing database {} ms | | <= 200 ms | | | |",
            ready.as_millis(),
            ready_existing.as_millis()
        ),
    ])
}

/// The Schemathesis the comparison runs (CI pins the same version).
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// Schemathesis's `st`, installed into a virtualenv under ~/.cache on first use.
fn schemathesis() -> Result<PathBuf, String> {
    let venv = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/commerce-st");
    let st = venv.join("bin/st");
    if !st.exists() {
        eprintln!("bench: installing {SCHEMATHESIS} into {}", venv.display());
        let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().map_err(|e| e.to_string())?;
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", SCHEMATHESIS])
            .status()
            .map_err(|e| e.to_string())?;
        if !made.success() || !installed.success() {
            return Err(format!("cannot install {SCHEMATHESIS}"));
        }
    }
    Ok(st)
}

/// One contract-testing tool's run: cases sent and seconds taken.
struct Cases {
    cases: u64,
    seconds: f64,
    exit: Option<i32>,
}

/// Runs `command` against a fresh service over a fresh SQLite database; `count` reads the number of
/// cases from its stdout.
fn contract_run(
    root: &Path,
    work: &Path,
    name: &str,
    command: impl FnOnce(&str) -> Command,
    count: impl FnOnce(&str) -> Option<u64>,
) -> Result<Cases, String> {
    let url = format!("sqlite://{}?mode=rwc", work.join(format!("{name}.db")).display());
    let port = free_port();
    let (_service, _) = start_service(&root.join("target/release/commerce"), &url, port)?;
    let started = Instant::now();
    let out = command(&format!("http://127.0.0.1:{port}"))
        .current_dir(root)
        .env("COMMERCE_ADMIN_EMAIL", "admin@example.com")
        .env("COMMERCE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .map_err(|e| format!("{name}: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // What it found, kept: an exit code in the table is explained by this file.
    let kept = work.join(format!("{name}.out"));
    std::fs::write(&kept, [out.stdout.as_slice(), out.stderr.as_slice()].concat()).map_err(|e| e.to_string())?;
    let cases = count(&stdout).ok_or_else(|| format!("{name}: no case count in its output:\n{stdout}"))?;
    Ok(Cases { cases, seconds, exit: out.status.code() })
}

/// `commerce contract` against Schemathesis: every phase, `--max-examples 100`, both with
/// `schemathesis.toml`, each against a fresh release service; cases per second of wall time.
fn measure_contract(root: &Path, work: &Path) -> Result<String, String> {
    let st = schemathesis()?;
    let schemathesis = contract_run(
        root,
        work,
        "schemathesis",
        |base| {
            let mut c = Command::new(&st);
            c.args(["run", "openapi/commerce.yaml", "--url", base, "--max-examples", "100", "--workers", "auto"]);
            c
        },
        // "Test cases:\n  3137 generated, 3137 passed"
        |out| {
            let after = out.split("Test cases:").nth(1)?;
            after.split_whitespace().next()?.parse().ok()
        },
    )?;
    let report_dir = work.join("contract");
    let ours = contract_run(
        root,
        work,
        "contract",
        |base| {
            let mut c = Command::new(root.join("target/release/commerce"));
            c.args(["contract", "--config", "schemathesis.toml", "--base-url", base, "--max-examples", "100"])
                .args(["--seed", "1", "--no-progress", "--report", "json", "--report-dir"])
                .arg(&report_dir);
            c
        },
        |_| {
            let report = std::fs::read_to_string(report_dir.join("report.json")).ok()?;
            serde_json::from_str::<serde_json::Value>(&report).ok()?["cases"].as_u64()
        },
    )?;
    let rate = |c: &Cases| c.cases as f64 / c.seconds;
    let row = |name: &str, c: &Cases, ratio: String, target: &str| {
        format!(
            "| {name} | {} | {:.1} | {:.0} | {ratio} | {target} | {} |",
            c.cases,
            c.seconds,
            rate(c),
            c.exit.map_or("killed".into(), |e| e.to_string())
        )
    };
    Ok(format!(
        "Contract testing, every phase, `--max-examples 100`, `schemathesis.toml`, fresh release service on SQLite \
         (each tool's output in `target/bench/<schemathesis|contract>.out`):\n\n\
         | tool | cases | seconds | cases/s | vs Schemathesis | target | exit |\n|---|---|---|---|---|---|---|\n{}\n{}\n",
        row(&format!("Schemathesis ({SCHEMATHESIS}, --workers auto)"), &schemathesis, "1x".into(), ""),
        row("commerce contract (--workers 8)", &ours, format!("{:.1}x", rate(&ours) / rate(&schemathesis)), ">= 10x"),
    ))
}

/// Both testers on every zoo target (`contract/tests/zoo/zoo.json`), each against a fresh process of
/// it: cases, seconds, distinct failures, and for ours the planted defects found and the findings
/// that are not planted (false positives), as `(operation, check)`.
fn measure_zoo(root: &Path, work: &Path) -> Result<String, String> {
    let zoo = root.join("contract/tests/zoo");
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(zoo.join("zoo.json")).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let venv = root.join("target/zoo-venv");
    if !venv.join("bin/python").exists() {
        let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().map_err(|e| e.to_string())?;
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "-r"])
            .arg(zoo.join("requirements.txt"))
            .status()
            .map_err(|e| e.to_string())?;
        if !made.success() || !installed.success() {
            return Err("cannot install the zoo's PyPI packages".into());
        }
    }
    if !zoo.join("node_modules").exists() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&zoo)
            .status()
            .map_err(|e| e.to_string())?;
        if !installed.success() {
            return Err("cannot install the zoo's npm packages".into());
        }
    }
    let st = schemathesis()?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect()
    };
    let pairs = |v: &serde_json::Value| -> BTreeSet<(String, String)> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p.get(0)?.as_str()?.to_string(), p.get(1)?.as_str()?.to_string())))
            .collect()
    };
    let mut table = String::from(
        "Contract testing on the zoo (`contract/tests/zoo/`), every phase, `--max-examples 30`, a fresh target process per run:\n\n\
         | target | tool | cases | seconds | cases/s | distinct failures | planted found | not planted |\n|---|---|---|---|---|---|---|---|\n",
    );
    for entry in &entries {
        let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let (name, base_path) = (field("name"), field("base_path"));
        let program = match field("runtime").as_str() {
            "venv" => venv.join("bin/python").display().to_string(),
            "npm" => "node".into(),
            other => other.to_string(),
        };
        let spec = zoo.join(field("spec"));
        let planted = pairs(&entry["planted"]);
        let also = pairs(&entry["also"]);

        let target = ZooTarget::start(&program, &field("program"), &zoo)?;
        // Outside the repository, whose schemathesis.toml (our service's login) st finds upward.
        let away = std::env::temp_dir().join("commerce-bench-zoo");
        std::fs::create_dir_all(&away).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let out = Command::new(&st)
            .current_dir(&away)
            .arg("run")
            .arg(&spec)
            .args(["--url", &format!("{}{base_path}", target.base), "--max-examples", "30"])
            .args(strings(&entry["st_options"]))
            .output()
            .map_err(|e| e.to_string())?;
        let seconds = started.elapsed().as_secs_f64();
        drop(target);
        let text = String::from_utf8_lossy(&out.stdout);
        if !text.contains("Test cases:") {
            return Err(format!("{name}: Schemathesis did not run:\n{text}{}", String::from_utf8_lossy(&out.stderr)));
        }
        // "Test cases:\n  414 generated, 4 found 4 unique failures"
        let after = text.split("Test cases:").nth(1).unwrap_or_default();
        let cases: u64 = after.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let failures = after
            .split(" unique failures")
            .next()
            .and_then(|s| s.split_whitespace().last()?.parse().ok())
            .unwrap_or(0u64);
        table.push_str(&format!(
            "| {name} | Schemathesis | {cases} | {seconds:.2} | {:.0} | {failures} | see BENCHMARKS.md | |\n",
            cases as f64 / seconds
        ));

        let target = ZooTarget::start(&program, &field("program"), &zoo)?;
        let report_dir = work.join(format!("zoo-{name}"));
        let started = Instant::now();
        Command::new(root.join("target/release/commerce"))
            .arg("contract")
            .arg("--spec")
            .arg(&spec)
            .args(["--base-url", &format!("{}{base_path}", target.base), "--max-examples", "30", "--no-progress"])
            .args(strings(&entry["options"]))
            .args(["--report", "json", "--report-dir"])
            .arg(&report_dir)
            .output()
            .map_err(|e| e.to_string())?;
        let seconds = started.elapsed().as_secs_f64();
        drop(target);
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(report_dir.join("report.json")).map_err(|e| format!("{name}: {e}"))?,
        )
        .map_err(|e| e.to_string())?;
        let cases = report["cases"].as_u64().unwrap_or(0);
        let found: BTreeSet<(String, String)> = report["failures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| Some((g["operation"].as_str()?.to_string(), g["check"].as_str()?.to_string())))
            .collect();
        let hit = planted.intersection(&found).count();
        let stray: Vec<String> = found
            .iter()
            .filter(|p| !planted.contains(*p) && !also.contains(*p))
            .map(|(o, c)| format!("{o} {c}"))
            .collect();
        table.push_str(&format!(
            "| {name} | commerce contract | {cases} | {seconds:.2} | {:.0} | {} | {hit} of {} | {} |\n",
            cases as f64 / seconds,
            found.len(),
            planted.len(),
            if stray.is_empty() { "0".into() } else { stray.join(", ") }
        ));
    }
    Ok(table)
}

/// A zoo target's process, started in the zoo directory; it prints its port. Killed when dropped.
struct ZooTarget {
    child: std::process::Child,
    base: String,
}

impl ZooTarget {
    fn start(program: &str, script: &str, dir: &Path) -> Result<Self, String> {
        use std::io::BufRead;
        let mut child = Command::new(program)
            .arg(script)
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{program} {script}: {e}"))?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let port: u16 = line.trim().parse().map_err(|_| format!("{program} {script} printed {line:?}"))?;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Self { child, base: format!("http://127.0.0.1:{port}") });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("{program} {script} never listened on {port}"))
    }
}

impl Drop for ZooTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo xtask bench zoo|contract`: only both testers, on the zoo or on this service, with a
/// release build.
pub fn run_testers(root: &Path, on_service: bool) -> ExitCode {
    let result = (|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(cargo)
            .current_dir(root)
            .args(["build", "--release", "--bin", "commerce"])
            .status()
            .map_err(|e| e.to_string())?;
        if !built.success() {
            return Err("the release build failed".to_string());
        }
        let work = root.join("target/bench");
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let table = if on_service { measure_contract(root, &work)? } else { measure_zoo(root, &work)? };
        println!("{table}");
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The part at 10,000 products, on SQLite and PostgreSQL: the table, headed by the machine.
fn catalogue_table(root: &Path, work: &Path) -> Result<String, String> {
    let mut rows = measure(root, "SQLite", &format!("sqlite://{}?mode=rwc", work.join("bench.db").display()), work)?;
    rows.extend(on_postgres("main", |url| measure(root, "PostgreSQL", url, work))?);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut table = format!(
        "Machine: {cores} cores ({cpu}). Load: wrk -t1 -c32 --latency, on the same machine; each endpoint in {ROUNDS} rounds of {ROUND_SECONDS} s alternating with the bare route (and with the endpoints a row compares it with): requests/s, p50 and p99 of each one's median round; each ratio the median of its rounds' ratios, the least and greatest in brackets.\n\n\
         | database | what | requests/s | of bare route | target | p50 | p99 | cache hits |\n|---|---|---|---|---|---|---|---|\n"
    );
    for row in rows {
        table.push_str(&row);
        table.push('\n');
    }
    Ok(table)
}

/// `cargo xtask bench catalogue`: only the part at 10,000 products.
pub fn run_catalogue(root: &Path) -> ExitCode {
    let work = root.join("target/bench");
    let measured = build_release(root).and_then(|()| {
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        catalogue_table(root, &work)
    });
    printed(measured)
}

/// `cargo xtask bench scale`: only the part at a million products.
pub fn run_scale(root: &Path) -> ExitCode {
    printed(build_release(root).and_then(|()| crate::scale::run(root)))
}

/// Prints a part's table, or why it could not be measured.
fn printed(measured: Result<String, String>) -> ExitCode {
    match measured {
        Ok(table) => {
            println!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(root: &Path) -> ExitCode {
    match run_inner(root) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The release service and the bare route, and wrk (installed from Debian's packages if missing).
fn build_release(root: &Path) -> Result<(), String> {
    cargo_build(root, &["--release", "--bin", "commerce", "--example", "bare_route"], "the release build failed")?;
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("bench: installing wrk (Debian package)");
        let install =
            || Command::new("apt-get").args(["install", "-y", "-qq", "wrk"]).status().is_ok_and(|s| s.success());
        // A fresh machine may have no package lists yet.
        if !install() && Command::new("apt-get").args(["update", "-qq"]).status().is_ok_and(|s| s.success()) {
            install();
        }
    }
    Ok(())
}

/// `cargo build` with `args` in the workspace, failing with `failure` when it does not build.
pub(crate) fn cargo_build(root: &Path, args: &[&str], failure: &str) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo).current_dir(root).arg("build").args(args).status().map_err(|e| e.to_string())?;
    if built.success() { Ok(()) } else { Err(failure.into()) }
}

fn run_inner(root: &Path) -> Result<(), String> {
    build_release(root)?;
    let work: PathBuf = root.join("target/bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;

    let mut table = catalogue_table(root, &work)?;
    let sqlite_scale = format!("sqlite://{}?mode=rwc", work.join("scale.db").display());
    let scale = crate::scale::measure(root, "SQLite", &sqlite_scale, &work)?;
    let scale = [scale, on_postgres("scale", |url| crate::scale::measure(root, "PostgreSQL", url, &work))?].concat();

    table.push('\n');
    table.push_str(&crate::scale::table(scale));
    table.push('\n');
    table.push_str(&measure_contract(root, &work)?);
    table.push('\n');
    table.push_str(&measure_zoo(root, &work)?);
    std::fs::write(work.join("latest.md"), &table).map_err(|e| e.to_string())?;
    println!("{table}");
    Ok(())
}

/// What the real-workload scripts draw from: the tenant's products, as the API lists them.
struct Catalogue {
    ids: Vec<String>,
    active: Vec<String>,
    /// The words of the names: the last one's (nouns) and the others'.
    qualifiers: Vec<String>,
    nouns: Vec<String>,
    /// The `nextCursor` of every page of the default listing (20 a page).
    cursors: Vec<String>,
}

/// The wrk scripts of the real workload, written for one database's run.
struct Scripts {
    random_get: PathBuf,
    search: PathBuf,
    deep_pages: PathBuf,
    keyset_pages: PathBuf,
    random_order: PathBuf,
    mixed: PathBuf,
    bare_mixed: PathBuf,
}

/// A Lua array literal of strings (ids and words need no escaping).
fn lua_array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("{{{}}}", quoted.join(","))
}

impl Catalogue {
    fn read(base: &str, auth: &str) -> Result<Self, String> {
        let (mut ids, mut active) = (Vec::new(), Vec::new());
        let (mut qualifiers, mut nouns) = (BTreeSet::new(), BTreeSet::new());
        for page in 1.. {
            let text = curl(&[&format!("{base}/products?pageSize=100&page={page}"), "-H", auth])?;
            let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            let data = body["data"].as_array().cloned().unwrap_or_default();
            if data.is_empty() {
                break;
            }
            for product in data {
                let id = product["id"].as_str().unwrap_or_default().to_string();
                // Orders take stock: only products that cannot run out (the seeded ones) are ordered.
                if product["active"] == true && product["stock"].as_i64().unwrap_or(0) >= 100_000 {
                    active.push(id.clone());
                }
                ids.push(id);
                crate::scale::collect_words(product["name"].as_str().unwrap_or_default(), &mut qualifiers, &mut nouns);
            }
        }
        if ids.len() < PRODUCTS || active.is_empty() || qualifiers.is_empty() || nouns.is_empty() {
            return Err(format!(
                "the catalogue lists {} products ({} active), {} words",
                ids.len(),
                active.len(),
                qualifiers.len() + nouns.len()
            ));
        }
        let mut cursors = Vec::new();
        let mut next = String::new();
        loop {
            let url = format!("{base}/products?pageSize=20{next}");
            let body: serde_json::Value =
                serde_json::from_str(&curl(&[&url, "-H", auth])?).map_err(|e| e.to_string())?;
            match body["nextCursor"].as_str() {
                Some(cursor) => {
                    cursors.push(cursor.to_string());
                    next = format!("&cursor={cursor}");
                }
                None => break,
            }
        }
        let (qualifiers, nouns) = (qualifiers.into_iter().collect(), nouns.into_iter().collect());
        Ok(Self { ids, active, qualifiers, nouns, cursors })
    }

    fn scripts(&self, work: &Path, label: &str, customer_id: &str, last_page: usize) -> Result<Scripts, String> {
        let order = |product: &str| {
            format!(
                r#"'{{"customerId":"{customer_id}","items":[{{"productId":"' .. {product} .. '","quantity":1}}],"shippingAddress":{{"name":"B","line1":"1 Main St","city":"Town","postalCode":"1000","country":"US"}}}}'"#
            )
        };
        let common = format!(
            "{LUA_REQUESTS}{}local ids = {}\nlocal active = {}\nlocal cursors = {}\nlocal sorts = {{\"name\",\"price\",\"stock\",\"createdAt\"}}\n\
             local orders = {{\"asc\",\"desc\"}}\nlocal categories = {{\"footwear\",\"apparel\",\"accessories\",\"electronics\",\"home\"}}\n\
             local function product() return get(\"/products/\" .. pick(ids)) end\n\
             local function listing() return get(\"/products?pageSize=20&category=\" .. pick(categories) .. \"&sort=\" .. pick(sorts) .. \"&order=\" .. pick(orders) .. \"&page=\" .. math.random(50)) end\n\
             local function deep() return get(\"/products?pageSize=20&sort=\" .. pick(sorts) .. \"&order=\" .. pick(orders) .. \"&page=\" .. math.random({half}, {last_page})) end\n\
             local function keyset() return get(\"/products?pageSize=20&cursor=\" .. pick(cursors)) end\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n\
             local order_of = remembered(function(id) return wrk.format(\"POST\", \"/orders\", nil, {body}) end)\n\
             local function order() return order_of(pick(active)) end\n",
            search_lua(&self.qualifiers, &self.nouns),
            lua_array(&self.ids),
            lua_array(&self.active),
            lua_array(&self.cursors),
            half = last_page / 2,
            body = order("id"),
        );
        let write = |name: &str, body: &str| -> Result<PathBuf, String> {
            let path = work.join(format!("{label}-{name}.lua"));
            std::fs::write(&path, format!("{common}{body}\n")).map_err(|e| e.to_string())?;
            Ok(path)
        };
        let bare_mixed = work.join(format!("{label}-bare-mixed.lua"));
        // The same mix over the bare route's bodies: product 0, list 1, order 2, search 3.
        std::fs::write(
            &bare_mixed,
            format!(
                "{LUA_REQUESTS}request = function()\n  local r = math.random(100)\n  local n = 0\n\
                 if r > 60 then n = 1 end\n  if r > 80 then n = 3 end\n  if r > 95 then n = 2 end\n\
                 return get(\"/static/\" .. n)\nend\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        Ok(Scripts {
            random_get: write("random-get", "request = product")?,
            search: write("search", "request = search")?,
            deep_pages: write("deep-pages", "request = deep")?,
            keyset_pages: write("keyset-pages", "request = keyset")?,
            random_order: write("random-order", "request = order")?,
            mixed: write(
                "mixed",
                "request = function()\n  local r = math.random(100)\n  if r <= 60 then return product() end\n\
                 if r <= 80 then return listing() end\n  if r <= 95 then return search() end\n  return order()\nend",
            )?,
            bare_mixed,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::BufRead;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// One request as a server received it.
    #[derive(Debug)]
    struct Received {
        method: String,
        path: String,
        headers: BTreeMap<String, String>,
        body: String,
    }

    /// An HTTP/1.1 server that records every request and answers each with `200 {}`, keeping the
    /// connection open; its port and what it received.
    fn recorder() -> (u16, Arc<Mutex<Vec<Received>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = std::io::BufReader::new(stream);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let (method, path) =
                            (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                        let mut headers = BTreeMap::new();
                        loop {
                            let mut header = String::new();
                            if reader.read_line(&mut header).is_err() {
                                return;
                            }
                            let Some((name, value)) = header.trim_end().split_once(": ") else { break };
                            headers.insert(name.to_ascii_lowercase(), value.to_string());
                        }
                        let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let body = String::from_utf8_lossy(&body).into_owned();
                        log.lock().unwrap().push(Received { method, path, headers, body });
                        if writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, received)
    }

    /// What wrk sends running `script` for a second against a recorder, with a bearer token.
    fn sent(script: &Path) -> Vec<Received> {
        let (port, received) = recorder();
        let url = format!("http://127.0.0.1:{port}/");
        wrk_for(&url, Some(script), Some("Authorization: Bearer t0ken"), 2, 1).expect("wrk runs the script");
        std::mem::take(&mut *received.lock().unwrap())
    }

    fn rounds(rps: &[f64]) -> Rounds {
        let loads = rps.iter().map(|&rps| Load { rps, p50: String::new(), p99: String::new() }).collect();
        Rounds { loads, hits: String::new() }
    }

    /// A ratio is taken round by round: a machine slower in some rounds than in others slows both
    /// loads of those rounds, and the ratio of each one's median round would mix them.
    #[test]
    fn a_ratio_is_the_median_of_the_rounds_ratios() {
        let bare = rounds(&[100.0, 50.0, 100.0, 50.0, 100.0]);
        let service = rounds(&[20.0, 10.0, 20.0, 10.0, 20.0]);
        let ratio = service.ratio(&bare);
        assert_eq!((ratio.median, ratio.least, ratio.most), (0.2, 0.2, 0.2));
        assert_eq!(ratio.percent(), "20.0% (20.0-20.0)");
        // Each one's median round would give 10/100: the slow rounds of one, the fast of the other.
        let slow_service = rounds(&[10.0, 10.0, 20.0, 5.0, 20.0]);
        let ratio = slow_service.ratio(&bare);
        assert_eq!((ratio.median, ratio.least, ratio.most), (0.2, 0.1, 0.2));
        assert_eq!(slow_service.median().rps, 10.0);
        assert_eq!(rounds(&[0.93, 0.88, 0.97]).ratio(&rounds(&[1.0, 1.0, 1.0])).fraction(), "0.93 (0.88-0.97)");
    }

    fn catalogue() -> Catalogue {
        let id = |n: usize| format!("01936f2e-4b1a-7c3d-8e5f-{n:012}");
        Catalogue {
            ids: (0..8).map(id).collect(),
            active: (0..4).map(id).collect(),
            qualifiers: vec!["rugged".into(), "leather".into()],
            nouns: vec!["boot".into(), "sandal".into()],
            cursors: vec!["c1".into(), "c2".into()],
        }
    }

    /// The workload's scripts send the requests they say, each with the credential, every id of
    /// the catalogue in turn at random, and the mix in its shares: the requests they keep change
    /// what wrk does per request, not what it sends.
    #[test]
    fn the_workload_s_scripts_send_every_kind_of_request_with_the_credential() {
        let work = std::env::temp_dir().join(format!("xtask-scripts-{}", std::process::id()));
        std::fs::create_dir_all(&work).unwrap();
        let catalogue = catalogue();
        let scripts = catalogue.scripts(&work, "T", "01936f2e-0000-7000-8000-000000000001", 10).unwrap();

        let gets = sent(&scripts.random_get);
        assert!(gets.len() > 1000, "{} requests", gets.len());
        let mut seen = BTreeSet::new();
        for get in &gets {
            assert_eq!(
                (get.method.as_str(), get.headers.get("authorization").map(String::as_str)),
                ("GET", Some("Bearer t0ken"))
            );
            assert!(!get.headers.contains_key("content-length") && get.body.is_empty(), "{get:?}");
            let id = get.path.strip_prefix("/products/").expect("a product's path");
            assert!(catalogue.ids.iter().any(|i| i == id), "{id}");
            seen.insert(id.to_string());
        }
        assert_eq!(seen.len(), catalogue.ids.len(), "every id is asked for");

        let orders = sent(&scripts.random_order);
        assert!(orders.len() > 1000, "{} orders", orders.len());
        let mut ordered = BTreeSet::new();
        for order in &orders {
            assert_eq!((order.method.as_str(), order.path.as_str()), ("POST", "/orders"));
            assert_eq!(order.headers.get("content-type").map(String::as_str), Some("application/json"));
            assert_eq!(order.headers.get("authorization").map(String::as_str), Some("Bearer t0ken"));
            let body: serde_json::Value = serde_json::from_str(&order.body).expect("a JSON body, all of it");
            let product = body["items"][0]["productId"].as_str().unwrap().to_string();
            assert!(catalogue.active.contains(&product), "{product}");
            assert_eq!(body["customerId"], "01936f2e-0000-7000-8000-000000000001");
            ordered.insert(product);
        }
        assert_eq!(ordered.len(), catalogue.active.len(), "every active product is ordered");

        let searches = sent(&scripts.search);
        assert!(searches.iter().all(|s| s.method == "GET" && s.path.starts_with("/products?pageSize=20&page=")));
        assert!(searches.iter().all(|s| s.path.contains("&search=")));
        let distinct: BTreeSet<&str> = searches.iter().map(|s| s.path.as_str()).collect();
        assert!(distinct.len() > 20, "searches vary: {distinct:?}");

        let mixed = sent(&scripts.mixed);
        let share = |test: &dyn Fn(&Received) -> bool| {
            100.0 * mixed.iter().filter(|r| test(r)).count() as f64 / mixed.len() as f64
        };
        let product = share(&|r| r.path.starts_with("/products/"));
        let listing = share(&|r| r.path.contains("&category="));
        let search = share(&|r| r.path.contains("&search="));
        let order = share(&|r| r.method == "POST");
        assert!(mixed.len() > 1000, "{} requests", mixed.len());
        for (what, got, want) in
            [("GETs", product, 60.0), ("listings", listing, 20.0), ("searches", search, 15.0), ("orders", order, 5.0)]
        {
            assert!((got - want).abs() < 3.0, "{what}: {got:.1}% of the mix, not {want}%");
        }
        assert!(mixed.iter().all(|r| r.headers.get("authorization").map(String::as_str) == Some("Bearer t0ken")));

        let bare = sent(&scripts.bare_mixed);
        let statics: BTreeSet<&str> = bare.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(statics, BTreeSet::from(["/static/0", "/static/1", "/static/2", "/static/3"]));
        std::fs::remove_dir_all(&work).ok();
    }
}
