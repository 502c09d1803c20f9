# Spindle's Python worker: runs the pickled functions of Python RDDs on an
# executor (see appmaster/src/rdd/python.rs for the protocol). One process
# serves many tasks, one after another; it reads frames on its stdin and
# writes frames on its stdout, and the user's prints go to stderr.
#
# Frames (integers little-endian):
#   executor -> worker: b"T" u32 len, pickled func, u32 partition, u8 input kind,
#                       u8 output kind, u32 batch   -- a task starts
#                       b"I" u32 len, payload        -- an input batch
#                       b"E"                         -- no more input
#   worker -> executor: b"N"                         -- send input
#                       b"O" u32 len, pickled list   -- output records
#                       b"P" u64 partition, u32 len, pickled list
#                       b"D"                         -- the task is done
#                       b"X" u32 len, utf-8 text     -- the task raised
# Input kinds: 0 i64 (raw little-endian), 1 pickled lists, 2 text lines
# (u32 count, count u32 lengths, the utf-8 bytes). Output kinds: 0 records,
# 1 (partition, record) pairs, batched per partition.
import array
import itertools
import os
import pickle
import struct
import sys
import traceback

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
TASK = struct.Struct("<IBBI")


def read_exact(rin, n):
    b = rin.read(n)
    if len(b) != n:
        raise EOFError("the executor closed the worker's input")
    return b


def read_blob(rin):
    (n,) = U32.unpack(read_exact(rin, 4))
    return read_exact(rin, n)


def decode_i64(payload):
    a = array.array("q")
    a.frombytes(payload)
    if sys.byteorder != "little":
        a.byteswap()
    return a


def decode_pickled(payload):
    return pickle.loads(payload)


def decode_lines(payload):
    (count,) = U32.unpack_from(payload, 0)
    lens = array.array("I")
    lens.frombytes(payload[4 : 4 + 4 * count])
    if sys.byteorder != "little":
        lens.byteswap()
    out = []
    pos = 4 + 4 * count
    for n in lens:
        out.append(payload[pos : pos + n].decode("utf-8"))
        pos += n
    return out


DECODERS = (decode_i64, decode_pickled, decode_lines)


def input_batches(rin, wout, decode):
    while True:
        wout.write(b"N")
        wout.flush()
        tag = read_exact(rin, 1)
        if tag == b"E":
            return
        if tag != b"I":
            raise EOFError("protocol error: expected an input frame, got %r" % tag)
        yield decode(read_blob(rin))


def write_records(wout, out, batch):
    dumps = pickle.dumps
    it = iter(out)
    while True:
        chunk = list(itertools.islice(it, batch))
        if not chunk:
            return
        body = dumps(chunk, pickle.HIGHEST_PROTOCOL)
        wout.write(b"O" + U32.pack(len(body)))
        wout.write(body)
        if len(chunk) < batch:
            return


def write_pairs(wout, out, batch):
    dumps = pickle.dumps
    buffers = {}

    def flush(pid, chunk):
        body = dumps(chunk, pickle.HIGHEST_PROTOCOL)
        wout.write(b"P" + U64.pack(pid) + U32.pack(len(body)))
        wout.write(body)

    for pid, record in out:
        buf = buffers.get(pid)
        if buf is None:
            buf = buffers[pid] = []
        buf.append(record)
        if len(buf) >= batch:
            flush(pid, buf)
            buffers[pid] = []
    for pid, buf in buffers.items():
        if buf:
            flush(pid, buf)


def main():
    # The protocol keeps the original stdin and stdout; the user's code sees
    # /dev/null and stderr instead.
    rin = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
    wout = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    while True:
        tag = rin.read(1)
        if not tag:
            return
        if tag != b"T":
            sys.stderr.write("spindle python worker: protocol error %r\n" % tag)
            return
        func = read_blob(rin)
        partition, in_kind, out_kind, batch = TASK.unpack(read_exact(rin, TASK.size))
        try:
            f = pickle.loads(func)
            decode = DECODERS[in_kind]
            records = itertools.chain.from_iterable(input_batches(rin, wout, decode))
            out = f(partition, records)
            if out_kind == 1:
                write_pairs(wout, out, batch)
            else:
                write_records(wout, out, batch)
            wout.write(b"D")
        except EOFError:
            return
        except BaseException:
            text = traceback.format_exc().encode("utf-8", "replace")
            wout.write(b"X" + U32.pack(len(text)))
            wout.write(text)
        wout.flush()


main()
