//! Python functions on executors: the op that runs a pickled Python function
//! over a partition ([PyPipe]) and the long-lived Python workers it runs in.
//!
//! A Python RDD's records are pickled Python lists (batches of objects) as
//! `Vec<u8>`; a Python shuffle's records are `(u64, Vec<u8>)`, the reduce
//! partition the Python side chose and a pickled batch of key-value pairs
//! (see [crate::rdd::Rdd::partition_by_index]). A [PyPipe] takes a stream of
//! `i64` (`sc.range`), `String` (`sc.textFile`) or batches and gives batches
//! or partitioned batches; its function is cloudpickled by the Python driver
//! as `f(partition_index, iterator) -> iterable`, the whole narrow chain
//! composed into one function so a partition passes through Python once.
//!
//! # Workers
//!
//! An executor keeps a pool of worker processes per Python executable
//! (`python -c <python_worker.py>`): a task takes an idle one or starts one,
//! and gives it back when the task ends cleanly, so a worker starts once per
//! concurrently running task slot, not once per task. A worker whose task
//! was abandoned midway (a failed or killed task, a `take` that stopped
//! early) is killed rather than reused. The worker's stderr is the
//! executor's, so the user's prints land in the container log.
//!
//! # Protocol
//!
//! Lock-step frames over the worker's stdin and stdout (see the worker's
//! header for the byte layout): the executor sends the task, then the worker
//! asks for input (`N`) whenever its iterator runs dry, and the executor
//! answers with one batch (`I`) or the end (`E`); in between the worker
//! streams output (`O`/`P`), and ends with `D`, or `X` and the Python
//! traceback, which fails the task with that text. Only one side writes at a
//! time, so neither can block the other with full pipes.

use super::func::{Data, Elements, MapPartitionsFn};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::marker::PhantomData;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The worker's source, run with `python -c`.
const WORKER_SOURCE: &str = include_str!("python_worker.py");

/// Input elements per batch sent to a worker (at most; and about 1 MiB of text).
const INPUT_BATCH: usize = 4096;
const INPUT_BATCH_BYTES: usize = 1 << 20;

/// A cloudpickled Python function `f(partition, iterator) -> iterable` run
/// over a partition of `I`, giving `O` (see the module docs).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct PyPipe<I, O> {
    /// The pickled function.
    pub func: Vec<u8>,
    /// The Python executable of the workers (`spark.pyspark.python`).
    pub python: String,
    /// Objects per output batch.
    pub batch: u32,
    #[serde(skip)]
    _t: PhantomData<fn() -> (I, O)>,
}

impl<I, O> PyPipe<I, O> {
    pub fn new(func: Vec<u8>, python: String, batch: u32) -> Self {
        Self {
            func,
            python,
            batch,
            _t: PhantomData,
        }
    }
}

/// What a worker can be fed: an element type and its batch encoding.
pub trait PyInput: Data {
    /// The input kind byte of the protocol.
    const KIND: u8;
    /// Appends up to a batch of elements to `out`; returns how many.
    fn encode_batch(input: &mut dyn Iterator<Item = Self>, out: &mut Vec<u8>) -> usize;
}

impl PyInput for i64 {
    const KIND: u8 = 0;
    fn encode_batch(input: &mut dyn Iterator<Item = Self>, out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        for x in input.take(INPUT_BATCH) {
            out.extend_from_slice(&x.to_le_bytes());
            n += 1;
        }
        n
    }
}

impl PyInput for Vec<u8> {
    const KIND: u8 = 1;
    /// One pickled batch a frame: it is already a batch.
    fn encode_batch(input: &mut dyn Iterator<Item = Self>, out: &mut Vec<u8>) -> usize {
        match input.next() {
            Some(b) => {
                out.extend_from_slice(&b);
                1
            }
            None => 0,
        }
    }
}

impl PyInput for String {
    const KIND: u8 = 2;
    fn encode_batch(input: &mut dyn Iterator<Item = Self>, out: &mut Vec<u8>) -> usize {
        let mut lines = Vec::new();
        let mut bytes = 0;
        for s in input {
            bytes += s.len();
            lines.push(s);
            if lines.len() == INPUT_BATCH || bytes >= INPUT_BATCH_BYTES {
                break;
            }
        }
        out.extend_from_slice(&(lines.len() as u32).to_le_bytes());
        for l in &lines {
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
        }
        for l in &lines {
            out.extend_from_slice(l.as_bytes());
        }
        lines.len()
    }
}

/// What a worker gives back: records, or records with their reduce partition.
pub trait PyOutput: Data {
    /// The output kind byte of the protocol.
    const KIND: u8;
}

impl PyOutput for Vec<u8> {
    const KIND: u8 = 0;
}

impl PyOutput for (u64, Vec<u8>) {
    const KIND: u8 = 1;
}

impl<I: PyInput, O: PyOutput> MapPartitionsFn for PyPipe<I, O>
where
    PyTask<I, O>: Iterator<Item = O>,
{
    type In = I;
    type Out = O;

    fn call(self, partition: u32, input: Elements<I>) -> Elements<O> {
        Box::new(PyTask::<I, O> {
            pipe: Some((self, partition)),
            worker: None,
            input: Some(input),
            buf: Vec::new(),
            _t: PhantomData,
        })
    }
}

/// One worker process and its pipes.
struct Worker {
    child: Child,
    to: BufWriter<ChildStdin>,
    from: BufReader<ChildStdout>,
}

impl Worker {
    fn start(python: &str) -> Result<Self, String> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(WORKER_SOURCE)
            // Every worker hashes strings alike: PySpark's portable_hash, hence
            // the reduce partition of a key, depends on it.
            .env("PYTHONHASHSEED", "0")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the Python worker `{python}`: {e}"))?;
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the Python worker has no pipes".into());
        };
        Ok(Self {
            child,
            to: BufWriter::with_capacity(1 << 16, to),
            from: BufReader::with_capacity(1 << 16, from),
        })
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Why the worker stopped answering: its exit status if it is gone.
    fn gone(&mut self, e: std::io::Error) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!(" ({s})"),
            _ => String::new(),
        };
        format!(
            "the Python worker stopped answering{status}: {e}; its stderr is in the executor's log"
        )
    }
}

/// Idle workers by Python executable.
fn pool() -> &'static Mutex<HashMap<String, Vec<Worker>>> {
    static POOL: OnceLock<Mutex<HashMap<String, Vec<Worker>>>> = OnceLock::new();
    POOL.get_or_init(Mutex::default)
}

fn take_worker(python: &str) -> Result<Worker, String> {
    let idle = pool()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(python)
        .and_then(Vec::pop);
    match idle {
        Some(w) => Ok(w),
        None => Worker::start(python),
    }
}

fn give_back(python: &str, w: Worker) {
    pool()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(python.to_string())
        .or_default()
        .push(w);
}

/// Kills every idle worker (the executor is stopping).
pub fn stop_workers() {
    let all: Vec<Worker> = pool()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .flat_map(|(_, v)| v)
        .collect();
    for w in all {
        w.kill();
    }
}

/// A running task: the stream of its output. Failures panic with the reason
/// (the Python traceback for a Python exception), which fails the task.
pub struct PyTask<I, O> {
    /// The function and partition, until the task is sent.
    pipe: Option<(PyPipe<I, O>, u32)>,
    /// The worker, while the task runs.
    worker: Option<(String, Worker)>,
    input: Option<Elements<I>>,
    buf: Vec<u8>,
    _t: PhantomData<fn() -> O>,
}

/// One frame from the worker, past its tag.
enum Frame {
    NeedInput,
    Records(Vec<u8>),
    Pair(u64, Vec<u8>),
    Done,
    Raised(String),
}

impl<I: PyInput, O: PyOutput> PyTask<I, O> {
    fn begin(&mut self) -> Result<(), String> {
        let Some((pipe, partition)) = self.pipe.take() else {
            return Ok(());
        };
        let mut w = take_worker(&pipe.python)?;
        let mut head = vec![b'T'];
        head.extend_from_slice(&(pipe.func.len() as u32).to_le_bytes());
        let sent =
            w.to.write_all(&head)
                .and_then(|()| w.to.write_all(&pipe.func))
                .and_then(|()| w.to.write_all(&partition.to_le_bytes()))
                .and_then(|()| w.to.write_all(&[I::KIND, O::KIND]))
                .and_then(|()| w.to.write_all(&pipe.batch.max(1).to_le_bytes()))
                .and_then(|()| w.to.flush());
        if let Err(e) = sent {
            let why = w.gone(e);
            w.kill();
            return Err(why);
        }
        self.worker = Some((pipe.python, w));
        Ok(())
    }

    fn read_frame(w: &mut Worker) -> std::io::Result<Frame> {
        let mut tag = [0u8; 1];
        w.from.read_exact(&mut tag)?;
        let mut u32b = [0u8; 4];
        let mut blob = |r: &mut BufReader<ChildStdout>| -> std::io::Result<Vec<u8>> {
            r.read_exact(&mut u32b)?;
            let mut b = vec![0u8; u32::from_le_bytes(u32b) as usize];
            r.read_exact(&mut b)?;
            Ok(b)
        };
        Ok(match tag[0] {
            b'N' => Frame::NeedInput,
            b'O' => Frame::Records(blob(&mut w.from)?),
            b'P' => {
                let mut p = [0u8; 8];
                w.from.read_exact(&mut p)?;
                Frame::Pair(u64::from_le_bytes(p), blob(&mut w.from)?)
            }
            b'D' => Frame::Done,
            b'X' => Frame::Raised(String::from_utf8_lossy(&blob(&mut w.from)?).into_owned()),
            t => {
                return Err(std::io::Error::other(format!(
                    "protocol error: unknown frame {t:#04x}"
                )))
            }
        })
    }

    /// Answers a request for input: the next batch, or the end.
    fn feed(&mut self) -> std::io::Result<()> {
        let Some((_, w)) = self.worker.as_mut() else {
            return Ok(());
        };
        self.buf.clear();
        let n = match self.input.as_mut() {
            Some(it) => I::encode_batch(it, &mut self.buf),
            None => 0,
        };
        if n == 0 {
            self.input = None;
            w.to.write_all(b"E")?;
        } else {
            w.to.write_all(b"I")?;
            w.to.write_all(&(self.buf.len() as u32).to_le_bytes())?;
            w.to.write_all(&self.buf)?;
        }
        w.to.flush()
    }

    /// The next output record, `None` at the end, or why the task failed.
    fn step(&mut self) -> Result<Option<Frame>, String> {
        self.begin()?;
        loop {
            let Some((_, w)) = self.worker.as_mut() else {
                return Ok(None);
            };
            let frame = match Self::read_frame(w) {
                Ok(f) => f,
                Err(e) => {
                    let (_, mut w) = self.worker.take().expect("checked");
                    let why = w.gone(e);
                    w.kill();
                    return Err(why);
                }
            };
            match frame {
                Frame::NeedInput => {
                    if let Err(e) = self.feed() {
                        let (_, mut w) = self.worker.take().expect("checked");
                        let why = w.gone(e);
                        w.kill();
                        return Err(why);
                    }
                }
                Frame::Done => {
                    let (python, w) = self.worker.take().expect("checked");
                    give_back(&python, w);
                    return Ok(None);
                }
                Frame::Raised(tb) => {
                    // The worker finished the task (with an exception): reusable.
                    let (python, w) = self.worker.take().expect("checked");
                    give_back(&python, w);
                    return Err(format!("PythonException: {tb}"));
                }
                f => return Ok(Some(f)),
            }
        }
    }
}

impl<I, O> Drop for PyTask<I, O> {
    fn drop(&mut self) {
        // Abandoned midway: the worker is in the middle of a task.
        if let Some((_, w)) = self.worker.take() {
            w.kill();
        }
    }
}

/// Fails the task: the engine's streams fail by unwinding, which the task
/// runner catches. Unwound without the panic hook, as this is the user's
/// error (a Python traceback), not a bug worth a backtrace on stderr.
fn fail(why: String) -> ! {
    std::panic::resume_unwind(Box::new(why))
}

impl<I: PyInput> Iterator for PyTask<I, Vec<u8>> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        match self.step() {
            Ok(None) => None,
            Ok(Some(Frame::Records(b))) => Some(b),
            Ok(Some(_)) => panic!("the Python worker sent partitioned output to a plain stage"),
            Err(why) => fail(why),
        }
    }
}

impl<I: PyInput> Iterator for PyTask<I, (u64, Vec<u8>)> {
    type Item = (u64, Vec<u8>);

    fn next(&mut self) -> Option<(u64, Vec<u8>)> {
        match self.step() {
            Ok(None) => None,
            Ok(Some(Frame::Pair(p, b))) => Some((p, b)),
            Ok(Some(_)) => panic!("the Python worker sent unpartitioned output to a shuffle"),
            Err(why) => fail(why),
        }
    }
}
