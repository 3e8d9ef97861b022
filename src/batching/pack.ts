/** Packs the rows of a batch into one predict frame: numeric rows of one length as one typed buffer, anything else as a list. */
import type { InputType, Row, TypedRow } from "../domain.ts";

const DTYPES = { doubles: "f8", floats: "f4", integers: "i4" } as const;

/** Numeric rows of one length travel as one packed buffer; anything else as a list. */
export function packBatch(inputType: InputType, batch: readonly { readonly rows: readonly Row[] }[]) {
  let rows = 0;
  for (const q of batch) rows += q.rows.length;
  if (inputType === "doubles" || inputType === "floats" || inputType === "integers") {
    const cols = (batch[0]!.rows[0] as ArrayLike<number>).length;
    if (batch.every((q) => q.rows.every((r) => (r as ArrayLike<number>).length === cols))) {
      const Typed = inputType === "doubles" ? Float64Array : inputType === "floats" ? Float32Array : Int32Array;
      // The ArrayBuffer first: asking a typed array for its .buffer afterwards makes JSC copy it out of the GC heap.
      const bytes = new ArrayBuffer(rows * cols * Typed.BYTES_PER_ELEMENT);
      const data = new Typed(bytes);
      let at = 0;
      const rowBytes = cols * Typed.BYTES_PER_ELEMENT;
      for (const q of batch) {
        const rs = q.rows as (number[] | TypedRow)[];
        const first = rs[0]!;
        const last = rs[rs.length - 1]!;
        // A request's rows that arrived as one binary tensor are consecutive views of its bytes (typedRows makes
        // them in order; a subset keeps their order): one copy for all of them.
        if (
          first instanceof Typed &&
          last instanceof Typed &&
          first.buffer === last.buffer &&
          last.byteOffset - first.byteOffset === (rs.length - 1) * rowBytes
        ) {
          data.set(new Typed(first.buffer as ArrayBuffer, first.byteOffset, rs.length * cols) as never, at);
          at += rs.length * cols;
          continue;
        }
        for (const r of rs) {
          // A row that arrived as bytes of this very type is copied as bytes; a JSON row value by value.
          if (r instanceof Typed) data.set(r as never, at);
          else for (let c = 0; c < cols; c++) data[at + c] = r[c]!;
          at += cols;
        }
      }
      return {
        rows,
        message: {
          type: "predict" as const,
          input_type: inputType,
          shape: [rows, cols] as [number, number],
          dtype: DTYPES[inputType],
          data: new Uint8Array(bytes),
        },
      };
    }
  }
  const all: Row[] = [];
  for (const q of batch) for (const r of q.rows) all.push(r);
  return { rows, message: { type: "predict" as const, input_type: inputType, inputs: all } };
}
