/** Packs the rows of a batch into one predict frame: numeric rows of one length as one typed buffer, anything else as a list. */
import type { InputType, Row } from "../domain.ts";

const DTYPES = { doubles: "f8", floats: "f4", integers: "i4" } as const;

/** Numeric rows of one length travel as one packed buffer; anything else as a list. */
export function packBatch(inputType: InputType, batch: readonly { readonly rows: readonly Row[] }[]) {
  let rows = 0;
  for (const q of batch) rows += q.rows.length;
  if (inputType === "doubles" || inputType === "floats" || inputType === "integers") {
    const cols = (batch[0]!.rows[0] as number[]).length;
    if (batch.every((q) => q.rows.every((r) => (r as number[]).length === cols))) {
      const Typed = inputType === "doubles" ? Float64Array : inputType === "floats" ? Float32Array : Int32Array;
      // The ArrayBuffer first: asking a typed array for its .buffer afterwards makes JSC copy it out of the GC heap.
      const bytes = new ArrayBuffer(rows * cols * Typed.BYTES_PER_ELEMENT);
      const data = new Typed(bytes);
      let at = 0;
      for (const q of batch) {
        for (const r of q.rows as number[][]) for (let c = 0; c < cols; c++) data[at++] = r[c]!;
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
