//! Starting and stopping the local stack: moto from the project's venv and the SP-API sandbox,
//! both on 127.0.0.1, as background processes whose pids and addresses are kept in
//! `.local/stack.json`. `up` is idempotent; a port held by something else is a clear error.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::provision::{ProvisionOptions, Resources, provision};
use crate::{AwsClients, LocalError, repo_root, template};

pub const PREFIX: &str = "orderseal-local";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackState {
    pub moto_url: String,
    pub moto_pid: Option<u32>,
    pub sandbox_url: String,
    pub sandbox_pid: Option<u32>,
    pub carrier_url: String,
    pub carrier_pid: Option<u32>,
    /// The pii-access API (the local API Gateway stand-in running the purposes' functions).
    #[serde(default)]
    pub access_url: String,
    #[serde(default)]
    pub access_pid: Option<u32>,
    pub seller_id: String,
    pub resources: Resources,
}

pub fn local_dir() -> PathBuf {
    repo_root().join(".local")
}

fn state_path() -> PathBuf {
    local_dir().join("stack.json")
}

pub fn load_state() -> Result<StackState, LocalError> {
    let text = std::fs::read_to_string(state_path()).map_err(|_| {
        LocalError::Stack("the local stack is not up: run `orderseal-local up`".into())
    })?;
    serde_json::from_str(&text).map_err(|_| {
        LocalError::Stack("corrupt .local/stack.json: run `orderseal-local down`".into())
    })
}

fn answers(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// Running (a zombie waiting to be reaped does not count).
fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

/// Refuse to start on a port that another process holds.
fn ensure_free(addr: SocketAddr, what: &str, env: &str) -> Result<(), LocalError> {
    TcpListener::bind(addr).map(drop).map_err(|_| {
        LocalError::Stack(format!(
            "port {} is taken by another process, so {what} cannot start there; stop that process or set {env} to another port",
            addr.port()
        ))
    })
}

fn wait_until_up(addr: SocketAddr, what: &str, pid: u32, log: &Path) -> Result<(), LocalError> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if answers(addr) {
            return Ok(());
        }
        if !pid_alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(LocalError::Stack(format!(
        "{what} did not start on {addr}; see {}",
        log.display()
    )))
}

fn spawn(mut cmd: Command, log_name: &str) -> Result<(u32, PathBuf), LocalError> {
    use std::os::unix::process::CommandExt;
    let log = local_dir().join(log_name);
    let file = std::fs::File::create(&log)?;
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| LocalError::Stack(format!("cannot start {log_name}: {e}")))?;
    Ok((child.id(), log))
}

pub fn venv_moto() -> PathBuf {
    local_dir().join("venv/bin/moto_server")
}

/// Start moto if it is not already ours and running. Returns (url, pid if started by us).
pub fn start_moto(port: u16) -> Result<(String, Option<u32>), LocalError> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let url = format!("http://127.0.0.1:{port}");
    if let Ok(state) = load_state()
        && state.moto_url == url
        && state.moto_pid.is_some_and(pid_alive)
        && answers(addr)
    {
        return Ok((url, state.moto_pid));
    }
    ensure_free(addr, "moto", "ORDERSEAL_MOTO_PORT")?;
    let moto = venv_moto();
    if !moto.exists() {
        return Err(LocalError::Stack(format!(
            "{} is missing: run scripts/bootstrap.sh first",
            moto.display()
        )));
    }
    let mut cmd = Command::new(moto);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let (pid, log) = spawn(cmd, "moto.log")?;
    wait_until_up(addr, "moto", pid, &log)?;
    Ok((url, Some(pid)))
}

fn sibling_binary(name: &str) -> Result<PathBuf, LocalError> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| LocalError::Stack("no exe dir".into()))?;
    for candidate in [dir.join(name), dir.join("..").join(name)] {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(LocalError::Stack(format!(
        "{name} binary not found next to orderseal-local: run `cargo build -p {name}`"
    )))
}

/// Start one of the project's sandbox binaries (`spapi-sandbox`, `carrier-sandbox`) unless the
/// recorded one is still ours and answering.
fn start_binary(
    binary: &str,
    port: u16,
    env: &str,
    recorded: Option<(&str, Option<u32>)>,
) -> Result<(String, Option<u32>), LocalError> {
    start_command(sibling_binary(binary)?, &[], binary, port, env, recorded)
}

/// Start `program args.. --addr 127.0.0.1:<port>` unless the recorded one is still ours and
/// answering.
fn start_command(
    program: PathBuf,
    args: &[&str],
    name: &str,
    port: u16,
    env: &str,
    recorded: Option<(&str, Option<u32>)>,
) -> Result<(String, Option<u32>), LocalError> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let url = format!("http://127.0.0.1:{port}");
    if let Some((recorded_url, pid)) = recorded
        && recorded_url == url
        && pid.is_some_and(pid_alive)
        && answers(addr)
    {
        return Ok((url, pid));
    }
    ensure_free(addr, name, env)?;
    let mut cmd = Command::new(program);
    cmd.args(args).args(["--addr", &addr.to_string()]);
    let (pid, log) = spawn(cmd, &format!("{name}.log"))?;
    wait_until_up(addr, name, pid, &log)?;
    Ok((url, Some(pid)))
}

/// Ports of the local stack's processes.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub moto: u16,
    pub sandbox: u16,
    pub carrier: u16,
    pub access: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            moto: crate::DEFAULT_MOTO_PORT,
            sandbox: crate::DEFAULT_SANDBOX_PORT,
            carrier: crate::DEFAULT_CARRIER_PORT,
            access: crate::DEFAULT_ACCESS_PORT,
        }
    }
}

/// Bring the whole stack up (idempotent) and provision the template's resources.
pub async fn up(ports: Ports) -> Result<StackState, LocalError> {
    std::fs::create_dir_all(local_dir())?;
    let previous = load_state().ok();
    let (moto_url, moto_pid) = start_moto(ports.moto)?;
    // The demo's two sellers: the default one and a second with orders of its own.
    let second_seller = format!("{}={}", crate::DEMO_SECOND_SELLER, crate::DEMO_SECOND_TOKEN);
    let second_orders = crate::DEMO_SECOND_ORDERS.to_string();
    let (sandbox_url, sandbox_pid) = start_command(
        sibling_binary("spapi-sandbox")?,
        &[
            "--seller",
            &second_seller,
            "--seller-orders",
            &second_orders,
        ],
        "spapi-sandbox",
        ports.sandbox,
        "ORDERSEAL_SANDBOX_PORT",
        previous
            .as_ref()
            .map(|p| (p.sandbox_url.as_str(), p.sandbox_pid)),
    )?;
    let (carrier_url, carrier_pid) = start_binary(
        "carrier-sandbox",
        ports.carrier,
        "ORDERSEAL_CARRIER_PORT",
        previous
            .as_ref()
            .map(|p| (p.carrier_url.as_str(), p.carrier_pid)),
    )?;
    let aws = AwsClients::for_endpoint(&moto_url).await;
    let spec = template::load(&crate::template_path())?;
    let seller_id = crate::DEMO_SELLER.to_owned();
    let secrets = crate::local_demo_secrets(
        &seller_id,
        &[(crate::DEMO_SECOND_SELLER, crate::DEMO_SECOND_TOKEN)],
    );
    let resources = provision(&aws, &spec, PREFIX, &secrets, &ProvisionOptions::default()).await?;
    let mut state = StackState {
        moto_url,
        moto_pid,
        sandbox_url,
        sandbox_pid,
        carrier_url,
        carrier_pid,
        access_url: String::new(),
        access_pid: None,
        seller_id,
        resources,
    };
    write_state(&state)?;
    // The pii-access API reads the resources from the state just written.
    let (access_url, access_pid) = start_command(
        std::env::current_exe()?,
        &["serve-access"],
        "pii-access-api",
        ports.access,
        "ORDERSEAL_ACCESS_PORT",
        previous
            .as_ref()
            .map(|p| (p.access_url.as_str(), p.access_pid)),
    )?;
    state.access_url = access_url;
    state.access_pid = access_pid;
    write_state(&state)?;
    Ok(state)
}

fn write_state(state: &StackState) -> Result<(), LocalError> {
    std::fs::write(
        state_path(),
        serde_json::to_string_pretty(state).expect("state serializes"),
    )?;
    Ok(())
}

/// Stop what `up` started and forget the state.
pub fn down() -> Result<Vec<String>, LocalError> {
    let mut stopped = Vec::new();
    if let Ok(state) = load_state() {
        for (name, pid) in [
            ("moto", state.moto_pid),
            ("spapi-sandbox", state.sandbox_pid),
            ("carrier-sandbox", state.carrier_pid),
            ("pii-access API", state.access_pid),
        ] {
            if let Some(pid) = pid.filter(|p| pid_alive(*p)) {
                let _ = Command::new("kill").arg(pid.to_string()).status();
                let t = Instant::now();
                while pid_alive(pid) && t.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                stopped.push(format!("{name} (pid {pid})"));
            }
        }
    }
    let _ = std::fs::remove_file(state_path());
    Ok(stopped)
}
