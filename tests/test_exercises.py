"""The course helpers: the shared toy drafter, the by-hand tables, psi path by path, and the
exercise checks, against numbers worked out by hand from the toy tables."""

import pytest

import specviz as sv
from specviz import exercises as ex
from specviz.lossless import BareSumSLRS


def test_shared_toy_pair_shares_one_vocabulary():
    pair = ex.shared_toy_pair()
    assert pair.same_vocabulary
    assert pair.target.tokens == pair.drafter.tokens
    sv.generate(pair, "the", "sd", max_new_tokens=4, temperature=1.0, seed=0)  # SD accepts it


def test_next_token_laws_read_the_tables():
    p, q = ex.next_token_laws(ex.shared_toy_pair(), " is")
    assert p == {" wet": 0.3, " bright": 0.7}
    assert q == {" wet": 0.6, " bright": 0.4}


def test_rejection_table_reproduces_p():
    text = ex.rejection_table({"a": 0.25, "b": 0.35, "c": 0.4}, {"a": 0.5, "b": 0.2, "c": 0.3})
    lines = text.splitlines()
    assert lines[2].split() == ["'a'", "0.250", "0.500", "0.250", "0.000", "0.000", "0.250"]
    assert lines[3].split()[-2:] == ["0.600", "0.350"]  # residual 0.15 / 0.25, then 0.2 + 0.25*0.6
    assert "P(accept) = sum of min(p,q) = 0.750" in text


def test_tables_put_labels_flush_left_and_numbers_flush_right():
    lines = ex.rejection_table({"a": 0.5, "bb": 0.5}, {"a": 1.0}).splitlines()
    assert lines[0].startswith("token  ") and lines[0].endswith("  P(output)")
    assert [line[:7] for line in lines[2:5]] == ["'a'    ", "'bb'   ", "total  "]
    lattice = ex.psi_lattice(sv.toy_pair(), "the", " rain")
    last = ex.psi_table(lattice).splitlines()[-1]
    assert last.startswith("psi(' rain')  ") and last.endswith(f"{lattice.psi:.4f}")


def test_rejection_table_when_proposal_covers_p():
    text = ex.rejection_table({"a": 1.0}, {"a": 1.0})
    assert "P(reject) = 0.000" in text


def test_psi_of_rainbow_has_four_paths():
    lattice = ex.psi_lattice(sv.toy_pair(), "the", " rainbow")
    assert len(lattice.paths) == 4
    assert lattice.psi == pytest.approx(0.5 * 0.4 + 0.5 * 0.1 + 0.3 * 0.9 * 0.5 + 0.3 * 0.9 * 0.2)
    assert lattice.stop_factor == [1.0] * 4
    assert "psi(' rainbow')" in ex.psi_table(lattice)


def test_psi_of_rain_needs_stop_factors():
    lattice = ex.psi_lattice(sv.toy_pair(), "the", " rain")
    assert sorted(lattice.stop_factor) == pytest.approx([0.3, 0.5])
    assert lattice.psi == pytest.approx(0.5 * 0.5 + 0.3 * 0.9 * 0.3)
    broken = ex.psi_lattice(sv.toy_pair(), "the", " rain", BareSumSLRS())
    assert broken.psi == pytest.approx(0.5 + 0.3 * 0.9)


def test_psi_lattice_refuses_unknown_tokens():
    with pytest.raises(ValueError, match="not a token"):
        ex.psi_lattice(sv.toy_pair(), "the", " snow")


def test_all_substrings_vocabulary_is_the_worst_case():
    rows = sv.slrs_cost(ex.all_substrings_vocabulary("abcdef"), ["a", "abc", "abcdef"])
    assert [r["paths"] for r in rows] == [1, 4, 32]


def test_paths_by_length_on_the_toy_world():
    pair = sv.toy_pair()
    rows = {r["bytes"]: r for r in ex.paths_by_length(pair.target.vocab, pair.drafter.vocab, 8)}
    assert rows[8]["tokens"] == 1 and rows[8]["max_paths"] == 4  # ' rainbow'
    assert rows[5]["tokens"] == 1 and rows[5]["max_paths"] == 2  # ' rain'
    assert sum(r["tokens"] for r in rows.values()) == 10  # every toy token but EOS
    vocab = sv.Vocabulary("t", [None, "é".encode(), b"ab"], lambda s: [])
    rows = ex.paths_by_length(vocab, vocab, 2, ascii_only=True)
    assert [r["tokens"] for r in rows] == [0, 1]


def test_verdict():
    class Result:
        p_value = 0.5

    assert ex.verdict(Result()) == "PASS"
    Result.p_value = 1e-9
    assert ex.verdict(Result()) == "FAIL"


HAND_ANSWERS = {1: 0.3 + 0.4, 2: 0.25 + 0.35, 5: 0.439, 6: 0.331,
                3: (1 - 0.8 ** 5) / (0.2 * 1.4), 4: 2, 7: 128,
                8: "sd", 9: "slem", 10: "tli", 11: "slrs",
                12: 69.9 / 120.3, 13: 224.2 / 120.3, 14: 1}


@pytest.mark.parametrize("number", sorted(ex.EXERCISES))
def test_every_exercise_accepts_the_hand_answer(number, capsys):
    assert set(HAND_ANSWERS) == set(ex.EXERCISES)
    assert ex.grade(number, HAND_ANSWERS[number])[0]
    ex.check(number, HAND_ANSWERS[number])
    assert "correct" in capsys.readouterr().out


def test_wrong_and_missing_answers_do_not_raise(capsys):
    ex.check(1, 0.5)
    assert "Hint" in capsys.readouterr().out
    assert ex.grade(1, None) == (False, "Exercise 1: not answered yet (replace None with your "
                                        "answer).")
    assert "expected a number" in ex.grade(1, "lots")[1]
    assert "answer with one of" in ex.grade(8, "whatever")[1]
    assert not ex.grade(8, "TLI")[0]
    assert ex.grade(8, " SD ")[0]
    assert not ex.grade(1, float("nan"))[0]
    with pytest.raises(ValueError, match="No exercise"):
        ex.check(99, 1)


def test_visible_whitespace():
    assert ex.visible(["):", "\n   ", " self"]) == "): | \u21b5\u2423\u2423\u2423 | \u2423self"


def test_solution_cells_verify_without_showing_the_answer(capsys):
    ex.check_solution(11, "slrs")
    out = capsys.readouterr().out
    assert out == "Exercise 11: this solution checks out (open the cell to read it).\n"
    assert "slrs" not in out
    with pytest.raises(AssertionError, match="exercise 11 is wrong"):
        ex.check_solution(11, "slem")
    with pytest.raises(AssertionError):
        ex.check_solution(3, None)


def test_measured_cost_exercises_follow_the_cost_model():
    from specviz.costmodel import pass_cost, predicted_speedup

    c, curve = 69.9 / 120.3, [ms / 120.3 for ms in ex.TARGET_PASS_MS]
    assert abs(ex.expected(13) - curve[3]) < 1e-12  # k = 3 candidates: a pass over 4 positions
    speedups = {k: predicted_speedup(0.7, k, c, pass_cost(curve, k + 1)) for k in range(1, 6)}
    assert ex.expected(14) == max(speedups, key=speedups.get)
    assert not ex.grade(13, curve[2])[0]  # v(3) is not the pass over 3 positions
