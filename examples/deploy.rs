//! A networked round on loopback: one server thread and N client threads,
//! each client on its own TCP connection, every phase closed when all
//! expected clients have answered or its deadline passes, and clients that
//! crash at every phase. README.md section "Deploying" walks through it.
//!
//! ```sh
//! cargo run --example deploy -- --clients 50            # semi-honest model
//! cargo run --example deploy -- --clients 50 --malicious
//! cargo run --example deploy -- --help
//! ```
//!
//! Cryptographic randomness (round id, keys, identities, the server's nonce)
//! comes from the OS; `--seed` fixes only who crashes where and the inputs,
//! so a failing run can be repeated. The example exits non-zero if the sum
//! is not the sum of the survivors' inputs, if the survivors are not the
//! clients that masked, if the round aborted, or if it took longer than the
//! time limit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, Rng, SeedableRng, UnwrapErr};
use secagg::{
    Aggregate, Client, ClientIndex, Identity, Outbox, Params, Phase, Roster, RoundId, Server, Step,
};

// ---------------------------------------------------------------------------
// Framing: u32 big-endian length, then a 5-byte header (kind, client index
// as u32 big-endian), then the protocol message. The length counts header
// and message and is checked against MAX_FRAME before anything is read.

/// Client -> server, first frame of a connection: "I am client `index`".
const HELLO: u8 = 0;
/// Client -> server: a protocol message.
const MESSAGE: u8 = 1;
/// Server -> client: a protocol message from `Step::Deliver`.
const DELIVER: u8 = 2;
const HEADER: usize = 5;
/// The largest frame either side accepts. The largest message of this
/// example is a MaskedInput of `m * 8` bytes, and `--dim` is capped below
/// this.
const MAX_FRAME: usize = 16 << 20;
/// The largest `--dim`: a MaskedInput of at most 8 MiB.
const MAX_DIM: u32 = 1 << 20;

/// One frame as read from the wire.
struct Frame {
    kind: u8,
    index: ClientIndex,
    payload: Vec<u8>,
}

fn write_frame(w: &mut impl Write, kind: u8, index: ClientIndex, payload: &[u8]) -> io::Result<()> {
    let len = HEADER + payload.len();
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame too large",
        ));
    }
    let mut buf = Vec::with_capacity(4 + len);
    buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    buf.push(kind);
    buf.extend_from_slice(&index.to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf)
}

/// The next frame, or `None` at the end of the stream. The buffer grows
/// with the bytes that actually arrive, never ahead of them, so a peer
/// announcing a large frame and sending nothing costs nothing.
fn read_frame(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let len = u32::from_be_bytes(len) as usize;
    if !(HEADER..=MAX_FRAME).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad frame length",
        ));
    }
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body)?;
    if body.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let payload = body.split_off(HEADER);
    let index = ClientIndex::from_be_bytes([body[1], body[2], body[3], body[4]]);
    Ok(Some(Frame {
        kind: body[0],
        index,
        payload,
    }))
}

// ---------------------------------------------------------------------------
// Crashes.

/// How a crashing client leaves at its phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leave {
    /// Hangs up before the server's message of the phase arrives (at
    /// AdvertiseKeys: never connects).
    Early,
    /// Reads the server's message of the phase, then hangs up without
    /// answering (at AdvertiseKeys: connects, says hello, hangs up).
    Hangup,
    /// Stays connected and never answers: only the deadline closes the
    /// phase.
    Stall,
}

/// Where a client crashes: it never sends its message of `phase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Crash {
    phase: Phase,
    how: Leave,
}

/// The phases of a round under `malicious` or not, in protocol order.
fn phases(malicious: bool) -> Vec<Phase> {
    let mut p = vec![Phase::AdvertiseKeys, Phase::ShareKeys, Phase::MaskedInput];
    if malicious {
        p.push(Phase::Consistency);
    }
    p.push(Phase::Unmask);
    p
}

/// Whether a client that left at `left` (`None`: finished) had sent its
/// masked input, i.e. belongs in U3.
fn masked(left: Option<Phase>) -> bool {
    matches!(left, None | Some(Phase::Consistency | Phase::Unmask))
}

fn below(rng: &mut impl Rng, n: usize) -> usize {
    // The schedule only needs to be reproducible, not unbiased.
    (rng.next_u64() % n as u64) as usize
}

/// Who crashes where: `count` clients at random, at least one at every
/// phase (the one at AdvertiseKeys never connects), exactly one of them
/// stalling at a random phase.
fn schedule(
    n: u32,
    phases: &[Phase],
    count: usize,
    rng: &mut impl Rng,
) -> BTreeMap<ClientIndex, Crash> {
    let mut order: Vec<ClientIndex> = (1..=n).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, below(rng, i + 1));
    }
    let mut plan = BTreeMap::new();
    for (k, &client) in order.iter().take(count).enumerate() {
        let quit = [Leave::Early, Leave::Hangup][below(rng, 2)];
        let crash = match phases.get(k) {
            Some(&Phase::AdvertiseKeys) => Crash {
                phase: Phase::AdvertiseKeys,
                how: Leave::Early,
            },
            Some(&phase) => Crash { phase, how: quit },
            None => Crash {
                phase: phases[below(rng, phases.len())],
                how: if k == phases.len() {
                    Leave::Stall
                } else {
                    quit
                },
            },
        };
        plan.insert(client, crash);
    }
    plan
}

/// Client `index`'s input: `dim` values below `2^bits` derived from the seed
/// (splitmix64), so a run is reproducible.
fn input_of(seed: u64, index: ClientIndex, dim: u32, bits: u8) -> Vec<u64> {
    let top = if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    };
    (0..u64::from(dim))
        .map(|j| {
            let mut z = seed ^ (u64::from(index) << 32) ^ j;
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) & top
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The client.

/// What every client knows before the round: the parameters, the round id,
/// and in the malicious model its identity and the roster.
#[derive(Clone)]
struct Setup {
    params: Params,
    round: RoundId,
    pki: Option<(Identity, Roster)>,
}

/// A client's connection, with its crash plan.
struct Link {
    stream: TcpStream,
    index: ClientIndex,
    crash: Option<Crash>,
}

impl Link {
    fn connect(
        addr: SocketAddr,
        index: ClientIndex,
        crash: Option<Crash>,
        timeout: Duration,
    ) -> io::Result<Self> {
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        write_frame(&mut stream, HELLO, index, &[])?;
        Ok(Self {
            stream,
            index,
            crash,
        })
    }

    fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        write_frame(&mut self.stream, MESSAGE, self.index, payload)
    }

    /// The server's message that opens `phase` for this client (empty for
    /// AdvertiseKeys, which the client opens), or `None` where the crash
    /// plan has the client leave.
    fn next(&mut self, phase: Phase) -> io::Result<Option<Vec<u8>>> {
        let plan = self.crash.filter(|c| c.phase == phase).map(|c| c.how);
        if plan == Some(Leave::Early) {
            return Ok(None);
        }
        let payload = if phase == Phase::AdvertiseKeys {
            Vec::new()
        } else {
            let frame = read_frame(&mut self.stream)?.ok_or(io::ErrorKind::UnexpectedEof)?;
            if frame.kind != DELIVER || frame.index != self.index {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame"));
            }
            frame.payload
        };
        match plan {
            None => Ok(Some(payload)),
            Some(Leave::Stall) => {
                // Silent but connected until the server hangs up (or the
                // read timeout passes).
                while let Ok(Some(_)) = read_frame(&mut self.stream) {}
                Ok(None)
            }
            Some(_) => Ok(None),
        }
    }
}

/// One client's round over `link` with the single client type
/// ([`Client`]; the typed states `AwaitingKeys` -> `AwaitingShares` ->
/// `AwaitingUnmask` do the same step by step). Returns the phase at which
/// the client left (`None`: it answered every phase).
fn drive(
    link: &mut Link,
    setup: &Setup,
    input: &[u64],
    rng: &mut impl CryptoRng,
) -> Result<Option<Phase>, Box<dyn std::error::Error>> {
    let (params, round, index) = (&setup.params, setup.round, link.index);
    let (mut client, advertise) = match &setup.pki {
        Some((id, roster)) => Client::with_identity(params, round, index, id, roster, rng)?,
        None => Client::new(params, round, index, rng)?,
    };
    // The input may be set any time before the ShareDelivery arrives (after
    // local training, say); here it is known from the start.
    client.set_input(input)?;
    if link.next(Phase::AdvertiseKeys)?.is_none() {
        return Ok(Some(Phase::AdvertiseKeys));
    }
    link.send(&advertise)?;

    // Every later phase is one server message in, one answer out; the
    // client knows which message it awaits (`Client::phase`).
    let mut phases = vec![Phase::ShareKeys, Phase::MaskedInput];
    if params.is_malicious() {
        phases.push(Phase::Consistency);
    }
    phases.push(Phase::Unmask);
    for phase in phases {
        let Some(message) = link.next(phase)? else {
            return Ok(Some(phase));
        };
        link.send(&client.receive(&message, rng)?)?;
    }
    Ok(None)
}

/// What a client thread tells the harness (the side channel): where it
/// left, and the input it masked with.
struct Report {
    index: ClientIndex,
    left: Result<Option<Phase>, String>,
    input: Vec<u64>,
}

fn client_thread(
    addr: SocketAddr,
    setup: Setup,
    index: ClientIndex,
    crash: Option<Crash>,
    input: Vec<u64>,
    timeout: Duration,
) -> Report {
    let mut rng = UnwrapErr(getrandom::SysRng);
    let left = if crash
        == Some(Crash {
            phase: Phase::AdvertiseKeys,
            how: Leave::Early,
        }) {
        Ok(Some(Phase::AdvertiseKeys))
    } else {
        Link::connect(addr, index, crash, timeout)
            .map_err(|e| e.to_string())
            .and_then(|mut link| {
                drive(&mut link, &setup, &input, &mut rng).map_err(|e| e.to_string())
            })
    };
    Report { index, left, input }
}

// ---------------------------------------------------------------------------
// The server.

/// What the connection threads tell the server thread.
enum Event {
    /// Connection `conn` said it is client `index`; `stream` writes to it.
    Hello {
        conn: usize,
        index: ClientIndex,
        stream: TcpStream,
    },
    /// A frame from connection `conn`.
    Frame { conn: usize, frame: Frame },
    /// Connection `conn` ended (end of stream, error or read timeout).
    Closed { conn: usize },
}

/// Accepts connections and starts one reader thread for each.
fn accept(listener: TcpListener, events: Sender<Event>, timeout: Duration) {
    for (conn, stream) in listener.incoming().enumerate() {
        let Ok(mut stream) = stream else { continue };
        let events = events.clone();
        thread::spawn(move || {
            let setup = stream
                .set_read_timeout(Some(timeout))
                .and_then(|()| stream.set_nodelay(true))
                .and_then(|()| stream.try_clone());
            let hello = read_frame(&mut stream);
            if let (Ok(writer), Ok(Some(frame))) = (setup, hello)
                && frame.kind == HELLO
                && frame.payload.is_empty()
            {
                let _ = events.send(Event::Hello {
                    conn,
                    index: frame.index,
                    stream: writer,
                });
                while let Ok(Some(frame)) = read_frame(&mut stream) {
                    if events.send(Event::Frame { conn, frame }).is_err() {
                        return;
                    }
                }
            }
            let _ = events.send(Event::Closed { conn });
        });
    }
}

/// Why a phase closed.
#[derive(Clone, Copy, Debug)]
enum Closed {
    AllAnswered,
    /// Every client still pending had hung up.
    RestGone,
    Deadline,
}

/// One line of the report.
struct PhaseReport {
    phase: Phase,
    expected: usize,
    answered: usize,
    closed: Closed,
    wait: Duration,
    close: Duration,
}

/// The server's view of the transport: which connection is which client.
struct Hub {
    clients: u32,
    events: Receiver<Event>,
    /// Connection -> client index, fixed at hello.
    conns: HashMap<usize, ClientIndex>,
    writers: BTreeMap<ClientIndex, TcpStream>,
    /// Clients whose connection ended.
    gone: BTreeSet<ClientIndex>,
    write_timeout: Duration,
}

impl Hub {
    fn handle(&mut self, server: &mut Server, event: Event) {
        match event {
            Event::Hello {
                conn,
                index,
                stream,
            } => {
                if index == 0 || index > self.clients || self.writers.contains_key(&index) {
                    eprintln!("server: connection {conn} claims client {index}: refused");
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
                let _ = stream.set_write_timeout(Some(self.write_timeout));
                self.conns.insert(conn, index);
                self.writers.insert(index, stream);
            }
            Event::Frame { conn, frame } => {
                let Some(&index) = self.conns.get(&conn) else {
                    return;
                };
                // The sender is the client this connection said hello as;
                // the header is only checked against it.
                if frame.kind != MESSAGE || frame.index != index {
                    eprintln!(
                        "server: client {index} sent a frame for {}: dropped",
                        frame.index
                    );
                    return;
                }
                if let Err(e) = server.receive(index, &frame.payload) {
                    eprintln!("server: {e}");
                }
            }
            Event::Closed { conn } => {
                if let Some(&index) = self.conns.get(&conn) {
                    self.gone.insert(index);
                }
            }
        }
    }

    /// Writes each message as it is built; none is built for a client
    /// already gone.
    fn deliver(&mut self, messages: Outbox) {
        for &index in messages.recipients() {
            let w = match self.writers.get_mut(&index) {
                Some(w) if !self.gone.contains(&index) => w,
                _ => continue,
            };
            let Some(bytes) = messages.message(index) else {
                continue;
            };
            let sent = write_frame(w, DELIVER, index, &bytes);
            if let Err(e) = sent {
                eprintln!("server: writing to client {index}: {e}");
                self.gone.insert(index);
            }
        }
    }

    fn hang_up(&mut self) {
        for w in self.writers.values() {
            let _ = w.shutdown(Shutdown::Both);
        }
    }
}

/// What the server thread hands back.
struct ServerOutcome {
    result: Result<Aggregate, secagg::Error>,
    phases: Vec<PhaseReport>,
    sets: [usize; 3],
    signers: usize,
    excluded: Vec<ClientIndex>,
}

/// Runs the round: each phase closes when `pending()` is empty, when every
/// pending client has hung up (after AdvertiseKeys: a client that has not
/// connected yet still may), or at its deadline.
fn serve(mut server: Server, hub: &mut Hub, config: &Config) -> ServerOutcome {
    let mut phases = Vec::new();
    let result = loop {
        let Some(phase) = server.phase() else {
            break Err(secagg::Error::Misuse(secagg::error::Misuse::RoundOver));
        };
        let started = Instant::now();
        let deadline = started
            + if phase == Phase::AdvertiseKeys {
                config.join_deadline
            } else {
                config.deadline
            };
        let expected = server.pending().len();
        let closed = loop {
            let pending = server.pending();
            if pending.is_empty() {
                break Closed::AllAnswered;
            }
            if phase != Phase::AdvertiseKeys && pending.iter().all(|i| hub.gone.contains(i)) {
                break Closed::RestGone;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match hub.events.recv_timeout(left) {
                Ok(event) => hub.handle(&mut server, event),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    break Closed::Deadline;
                }
            }
        };
        let answered = expected - server.pending().len();
        let closing = Instant::now();
        let step = server.close_phase();
        phases.push(PhaseReport {
            phase,
            expected,
            answered,
            closed,
            wait: closing - started,
            close: closing.elapsed(),
        });
        match step {
            Ok(Step::Deliver(messages)) => hub.deliver(messages),
            Ok(Step::Done(aggregate)) => break Ok(aggregate),
            Ok(_) => break Err(secagg::Error::Misuse(secagg::error::Misuse::RoundOver)),
            Err(e) => break Err(e),
        }
    };
    hub.hang_up();
    let [u1, u2, u3] = server.survivor_sets();
    // U3 is the aggregate's survivors once the round is over.
    let u3 = result.as_ref().map_or(u3.len(), |a| a.survivors.len());
    ServerOutcome {
        result,
        phases,
        sets: [u1.len(), u2.len(), u3],
        signers: server.signers().len(),
        excluded: server.excluded(),
    }
}

// ---------------------------------------------------------------------------
// The harness.

#[derive(Clone)]
struct Config {
    clients: u32,
    dim: u32,
    seed: u64,
    malicious: bool,
    crash_rate: f64,
    join_deadline: Duration,
    deadline: Duration,
    time_limit: Duration,
}

const USAGE: &str = "usage: deploy [--clients N] [--dim M] [--seed S] [--malicious]
              [--crash-rate F] [--join-deadline-ms MS] [--deadline-ms MS] [--time-limit-s S]
  --clients N          clients, default 50
  --dim M              vector length, default 1000 (at most 1048576)
  --seed S             who crashes where, and the inputs; default 1
  --malicious          the malicious-server model (identities, consistency round)
  --crash-rate F       fraction of clients that crash, default 0.2
                       (at least one per phase, one of them stalling)
  --join-deadline-ms   deadline of AdvertiseKeys, default 3000
  --deadline-ms        deadline of every later phase, default 5000
  --time-limit-s       overall bound, default 120";

fn parse_args() -> Result<Config, String> {
    let mut config = Config {
        clients: 50,
        dim: 1000,
        seed: 1,
        malicious: false,
        crash_rate: 0.2,
        join_deadline: Duration::from_millis(3000),
        deadline: Duration::from_millis(5000),
        time_limit: Duration::from_secs(120),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--malicious" {
            config.malicious = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |_: std::num::ParseIntError| format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--clients" => config.clients = value.parse().map_err(bad)?,
            "--dim" => config.dim = value.parse().map_err(bad)?,
            "--seed" => config.seed = value.parse().map_err(bad)?,
            "--crash-rate" => {
                config.crash_rate = value.parse().map_err(|_| format!("bad value for {flag}"))?;
            }
            "--join-deadline-ms" => {
                config.join_deadline = Duration::from_millis(value.parse().map_err(bad)?);
            }
            "--deadline-ms" => config.deadline = Duration::from_millis(value.parse().map_err(bad)?),
            "--time-limit-s" => {
                config.time_limit = Duration::from_secs(value.parse().map_err(bad)?)
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if config.dim == 0 || config.dim > MAX_DIM {
        return Err(format!("--dim must be in 1..={MAX_DIM}"));
    }
    if !(0.0..1.0).contains(&config.crash_rate) {
        return Err("--crash-rate must be in [0, 1)".to_owned());
    }
    Ok(config)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("deploy: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    const BITS: u8 = 32;
    let start = Instant::now();
    let config = parse_args()?;
    let n = config.clients;
    let mut os = UnwrapErr(getrandom::SysRng);
    let mut seeded = chacha20::ChaCha20Rng::seed_from_u64(config.seed);

    // The crash schedule first: the parameters tolerate that many dropouts.
    let phases = phases(config.malicious);
    let count = ((f64::from(n) * config.crash_rate).round() as usize)
        .max(phases.len() + 1)
        .min(n as usize);
    let plan = schedule(n, &phases, count, &mut seeded);
    let dropout = count as f64 / f64::from(n);
    let params = if config.malicious {
        Params::secagg_plus_malicious(n, BITS, config.dim, 0.05, dropout, &mut os)
    } else {
        Params::secagg_plus(n, BITS, config.dim, 0.05, dropout, &mut os)
    }
    .map_err(|e| format!("no parameters for {n} clients with {count} crashing: {e}"))?;
    let mut round: RoundId = [0; 32];
    os.fill_bytes(&mut round);

    // Malicious model: the host's PKI gives every client an identity and
    // every party the roster of verifying keys.
    let identities: Vec<Identity> = if config.malicious {
        (0..n).map(|_| Identity::generate(&mut os)).collect()
    } else {
        Vec::new()
    };
    let roster = if config.malicious {
        let keys: Vec<[u8; 32]> = identities.iter().map(Identity::public_key).collect();
        Some(Roster::new(&keys).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let server = match &roster {
        Some(roster) => Server::with_roster(&params, round, roster, &mut os),
        None => Server::new(&params, round, &mut os),
    }
    .map_err(|e| e.to_string())?;

    println!(
        "deploy: {n} clients, {} model, k = {}, t = {}, m = {}, b = {BITS}, seed {}",
        if config.malicious {
            "malicious"
        } else {
            "semi-honest"
        },
        params.degree(),
        params.threshold(),
        params.dim(),
        config.seed
    );
    for phase in &phases {
        for how in [Leave::Early, Leave::Hangup, Leave::Stall] {
            let who: Vec<ClientIndex> = plan
                .iter()
                .filter(|(_, c)| c.phase == *phase && c.how == how)
                .map(|(i, _)| *i)
                .collect();
            if !who.is_empty() {
                println!("  crash at {phase} ({how:?}): {who:?}");
            }
        }
    }

    // The transport.
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (event_tx, event_rx) = mpsc::channel();
    let timeout = config.time_limit;
    thread::spawn(move || accept(listener, event_tx, timeout));

    let (done_tx, done_rx) = mpsc::channel();
    let mut hub = Hub {
        clients: n,
        events: event_rx,
        conns: HashMap::new(),
        writers: BTreeMap::new(),
        gone: BTreeSet::new(),
        write_timeout: config.deadline,
    };
    let server_config = config.clone();
    thread::spawn(move || {
        let _ = done_tx.send(serve(server, &mut hub, &server_config));
    });

    let (report_tx, report_rx) = mpsc::channel();
    for index in 1..=n {
        let setup = Setup {
            params: params.clone(),
            round,
            pki: roster
                .as_ref()
                .zip(identities.get(index as usize - 1))
                .map(|(r, id)| (id.clone(), r.clone())),
        };
        let crash = plan.get(&index).copied();
        let input = input_of(config.seed, index, config.dim, BITS);
        let tx = report_tx.clone();
        thread::spawn(move || {
            let _ = tx.send(client_thread(addr, setup, index, crash, input, timeout));
        });
    }

    // Collect, within the overall bound.
    let remaining = || config.time_limit.saturating_sub(start.elapsed());
    let outcome = done_rx
        .recv_timeout(remaining())
        .map_err(|_| format!("the server did not finish within {:?}", config.time_limit))?;
    let mut reports = BTreeMap::new();
    while reports.len() < n as usize {
        let r: Report = report_rx
            .recv_timeout(remaining())
            .map_err(|_| format!("clients did not finish within {:?}", config.time_limit))?;
        reports.insert(r.index, r);
    }

    println!(
        "{:<14} {:>8} {:>8}  {:<10} {:>9} {:>9}",
        "phase", "expected", "answered", "closed by", "wait ms", "close ms"
    );
    for p in &outcome.phases {
        println!(
            "{:<14} {:>8} {:>8}  {:<10} {:>9} {:>9}",
            p.phase.to_string(),
            p.expected,
            p.answered,
            format!("{:?}", p.closed),
            p.wait.as_millis(),
            p.close.as_millis()
        );
    }
    let [u1, u2, u3] = outcome.sets;
    print!("U1 = {u1}, U2 = {u2}, U3 = {u3}");
    if config.malicious {
        print!(", signers = {}", outcome.signers);
    }
    println!(", excluded: {:?}", outcome.excluded);
    println!("wall time {:.2} s", start.elapsed().as_secs_f64());

    check(&config, &plan, &reports, outcome.result, &outcome.excluded)
}

/// The checks behind the exit code.
fn check(
    config: &Config,
    plan: &BTreeMap<ClientIndex, Crash>,
    reports: &BTreeMap<ClientIndex, Report>,
    result: Result<Aggregate, secagg::Error>,
    excluded: &[ClientIndex],
) -> Result<(), String> {
    let aggregate = result.map_err(|e| format!("the round aborted: {e}"))?;
    for r in reports.values() {
        let planned = plan.get(&r.index).map(|c| c.phase);
        match &r.left {
            Ok(left) if *left == planned => {}
            Ok(left) => {
                return Err(format!(
                    "client {} left at {left:?}, planned {planned:?}",
                    r.index
                ));
            }
            Err(e) => return Err(format!("client {}: {e}", r.index)),
        }
    }
    if !excluded.is_empty() || !aggregate.misbehaved.is_empty() {
        return Err(format!(
            "honest clients excluded: {:?}",
            aggregate.misbehaved
        ));
    }
    let maskers: Vec<ClientIndex> = reports
        .values()
        .filter(|r| matches!(r.left, Ok(left) if masked(left)))
        .map(|r| r.index)
        .collect();
    if aggregate.survivors != maskers {
        return Err(format!(
            "survivors {:?} are not the clients that masked {maskers:?}",
            aggregate.survivors
        ));
    }
    let top = (1u64 << 32) - 1;
    let mut expected = vec![0u64; config.dim as usize];
    for index in &aggregate.survivors {
        let input = reports.get(index).map(|r| &r.input).ok_or("no report")?;
        for (s, x) in expected.iter_mut().zip(input) {
            *s = s.wrapping_add(*x) & top;
        }
    }
    if aggregate.sum != expected {
        return Err("the sum is not the sum of the survivors' inputs".to_owned());
    }
    println!(
        "sum of {} survivors' inputs: correct ({} elements)",
        aggregate.survivors.len(),
        expected.len()
    );
    Ok(())
}
