"""clipper_formats' framework-free parts: reshaping rows to the input shape, outputs per row, non-finite outputs."""

import unittest

import clipper_formats as cf
import numpy as np


class FormatModelTest(unittest.TestCase):
    def model(self, call, shape=None, output="raw", dtype=np.float32):
        return cf.FormatModel("test", call, shape, 1, output, dtype)

    def test_flat_rows_are_reshaped_to_the_input_shape_in_the_model_dtype(self):
        seen = {}
        m = self.model(lambda x: seen.setdefault("x", x).reshape(len(x), -1).sum(axis=1), [1, 2, 2])
        out = m.predict(np.arange(8, dtype=np.float64).reshape(2, 4))
        self.assertEqual(seen["x"].shape, (2, 1, 2, 2))
        self.assertEqual(seen["x"].dtype, np.float32)
        self.assertEqual(out.tolist(), [6.0, 22.0])

    def test_a_row_of_the_wrong_width_names_both_shapes(self):
        m = self.model(lambda x: x, [1, 8, 8])
        with self.assertRaisesRegex(ValueError, r"each row has 5 values but the model's input shape \[1, 8, 8\] needs 64"):
            m.predict(np.zeros((3, 5)))

    def test_vectors_stay_vectors_single_columns_become_scalars_argmax_gives_the_class(self):
        scores = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]])
        self.assertEqual(cf.finish(scores, 2, "raw").tolist(), scores.tolist())
        self.assertEqual(cf.finish(scores, 2, "argmax").tolist(), [1, 0])
        self.assertEqual(cf.finish(np.array([[1.5], [2.5]]), 2, "raw").tolist(), [1.5, 2.5])

    def test_non_finite_outputs_fail_the_batch_naming_the_rows(self):
        with self.assertRaisesRegex(ValueError, r"non-finite outputs .* for rows \[1\]"):
            cf.finish(np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, 4.0]]), 3, "raw")

    def test_an_output_count_that_is_not_the_batch_size_is_an_error(self):
        with self.assertRaisesRegex(ValueError, r"returned shape \[3\] for a batch of 2 rows"):
            cf.finish(np.zeros(3), 2, "raw")

    def test_an_unknown_format_is_refused(self):
        with self.assertRaisesRegex(ValueError, "unknown model format 'pickle5'"):
            cf.load("pickle5", "/nonexistent")


if __name__ == "__main__":
    unittest.main()
