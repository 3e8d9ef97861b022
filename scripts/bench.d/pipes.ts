/**
 * Bun.spawn against execa for the long-lived replica pipe (which is faster?): the same
 * Python worker, the same frames, ping round trips one at a time and 64 in flight. Writes bench/pipes.md.
 * usage: .tools/node_modules/bun/bin/bun.exe scripts/bench.d/pipes.ts HR_PKL
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { encodeFrame, FrameDecoder, PROTOCOL_VERSION } from "../../src/runtime/protocol.ts";

const ROOT = resolve(import.meta.dir, "../..");
const artifact = process.argv[2];
if (!artifact) throw new Error("usage: pipes.ts HR_PKL");
const cmd = [join(ROOT, ".venv/bin/python"), join(ROOT, "runtimes/python/clipper_worker.py"), "--artifact", artifact];
const N = 5000;

interface Pipe {
  write(b: Uint8Array): void;
  frames: AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

function viaBun(): Pipe {
  const p = Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "ignore" });
  return {
    write: (b) => {
      p.stdin.write(b);
      p.stdin.flush();
    },
    frames: p.stdout,
    close: async () => {
      p.stdin.end();
      await p.exited;
    },
  };
}

function viaExeca(): Pipe {
  const p = execa(cmd[0]!, cmd.slice(1), { stdin: "pipe", stdout: "pipe", stderr: "ignore", buffer: false });
  return {
    write: (b) => p.stdin!.write(b),
    frames: p.stdout! as AsyncIterable<Uint8Array>,
    close: async () => {
      p.stdin!.end();
      await p;
    },
  };
}

async function measure(make: () => Pipe, inflight: number): Promise<number> {
  const pipe = make();
  const decoder = new FrameDecoder();
  let received = 0;
  let sent = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let started = 0;
  const send = () => pipe.write(encodeFrame({ v: PROTOCOL_VERSION, type: "ping", id: ++sent }));
  void (async () => {
    for await (const chunk of pipe.frames) {
      for (const m of decoder.push(chunk)) {
        const type = (m as { type: string }).type;
        if (type === "hello") {
          started = performance.now();
          for (let i = 0; i < inflight; i++) send();
          continue;
        }
        if (++received === N) resolveDone();
        else if (sent < N) send();
      }
    }
  })();
  await done;
  const micros = ((performance.now() - started) * 1000) / N;
  await pipe.close();
  return micros;
}

const rows: string[] = [];
for (const [name, make] of [
  ["Bun.spawn", viaBun],
  ["execa", viaExeca],
] as const) {
  const one = await measure(make, 1);
  const many = await measure(make, 64);
  rows.push(`| ${name} | ${one.toFixed(1)} µs | ${(1e6 / many).toFixed(0)} frames/s |`);
  console.log(`${name}: ${one.toFixed(1)} µs per round trip one at a time; ${(1e6 / many).toFixed(0)} frames/s with 64 in flight`);
}
const md = [
  "# Replica pipes: Bun.spawn against execa",
  "",
  `Generated ${new Date().toISOString()} by \`scripts/bench.d/pipes.ts\`: ${N} ping frames to the Python worker over stdin/stdout.`,
  "",
  "| pipe | round trip, one at a time | throughput, 64 in flight |",
  "|---|---|---|",
  ...rows,
  "",
].join("\n");
writeFileSync(join(ROOT, "bench/pipes.md"), md);
