"""Cosine scoring, S-norm / AS-norm, trial lists, embedding folders, bad input and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiocs.cli import main
from audiocs.errors import AudiocsError
from audiocs.scoring import (EmbeddingSet, cosine_scores, equal_error_rate, fuse_embeddings, generate_trials,
                             read_embeddings, read_trials, snorm_scores, subtract_mean, write_embeddings, write_trials)
from audiocs.scoring.pipeline import score_trials
from audiocs.scoring.trials import Trials, _pair_from_flat


def _embedding_set(n_spk: int = 6, per: int = 5, dim: int = 16, seed: int = 0, spread: float = 0.5) -> EmbeddingSet:
    rng = np.random.default_rng(seed)
    spk = np.repeat(np.arange(n_spk), per)
    x = (rng.standard_normal((n_spk, dim))[spk] + spread * rng.standard_normal((len(spk), dim))).astype(np.float32)
    return EmbeddingSet([f"utt{i:03d}" for i in range(len(spk))], x, spk % 3, [f"class{s % 3}" for s in spk],
                        [f"spk{s}" for s in spk])


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# --- cosine scoring ---------------------------------------------------------------------


@pytest.mark.parametrize("dense_factor", [0.0, 1e9])  # force the sampled-matmul path, then the dense path
def test_cosine_scores_match_direct_formula(dense_factor):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 24)).astype(np.float32) * rng.uniform(0.5, 3, (300, 1)).astype(np.float32)
    e = rng.integers(0, 300, 2000)
    t = rng.integers(0, 300, 2000)
    e[:10], t[:10] = e[10], t[10]  # repeated trials
    got = cosine_scores(x, e, t, dense_factor=dense_factor, chunk=64)
    ref = np.array([_cos(x[a], x[b]) for a, b in zip(e, t)])
    np.testing.assert_allclose(got, ref, atol=2e-6)


def test_cosine_scores_large_index_path():
    # more than 2**16 rows: the lexsort fallback of the sampled-matmul path
    rng = np.random.default_rng(1)
    x = rng.standard_normal((70000, 4)).astype(np.float32)
    e, t = rng.integers(0, 70000, 500), rng.integers(0, 70000, 500)
    ref = np.array([_cos(x[a], x[b]) for a, b in zip(e, t)])
    np.testing.assert_allclose(cosine_scores(x, e, t), ref, atol=2e-6)


def test_subtract_mean_renormalizes():
    x = np.array([[2.0, 1.0], [0.0, 3.0]], np.float32)
    y = subtract_mean(x, np.array([1.0, 1.0]))  # -> [1, 0], [-1, 2] / sqrt(5)
    np.testing.assert_allclose(y, [[1, 0], [-1 / np.sqrt(5), 2 / np.sqrt(5)]], atol=1e-6)


# --- S-norm and AS-norm against a direct per-trial loop ---------------------------------


def _norm_loop(x, e, t, cohort, top_k):
    """Reference: for every trial, score both sides against the cohort and normalize."""
    out = []
    for a, b in zip(e, t):
        s = _cos(x[a], x[b])
        sides = []
        for v in (x[a], x[b]):
            c = np.array([_cos(v, w) for w in cohort])
            if top_k is not None:
                c = np.sort(c)[::-1][:top_k]
            sides.append((s - c.mean()) / c.std())
        out.append(0.5 * (sides[0] + sides[1]))
    return np.array(out)


@pytest.mark.parametrize("top_k", [None, 7])  # S-norm, AS-norm
def test_snorm_and_asnorm_match_direct_loop(top_k):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 8)).astype(np.float32)
    cohort = rng.standard_normal((30, 8)).astype(np.float32)
    e, t = rng.integers(0, 40, 60), rng.integers(0, 40, 60)
    raw = cosine_scores(x, e, t)
    got = snorm_scores(raw, x, e, t, cohort, top_k)
    np.testing.assert_allclose(got, _norm_loop(x, e, t, cohort, top_k), atol=1e-4)


def test_asnorm_with_top_k_at_cohort_size_is_snorm():
    rng = np.random.default_rng(3)
    x, cohort = rng.standard_normal((10, 8)), rng.standard_normal((12, 8))
    e, t = np.arange(10), np.arange(10)[::-1].copy()
    raw = cosine_scores(x, e, t)
    np.testing.assert_allclose(snorm_scores(raw, x, e, t, cohort, 12), snorm_scores(raw, x, e, t, cohort), atol=1e-5)


@pytest.mark.parametrize("by", ["speaker", "label"])
def test_asnorm_against_class_mean_cohort_matches_direct_loop(by):
    es, co = _embedding_set(), _embedding_set(n_spk=9, per=4, seed=5)
    tr = generate_trials(es)
    keys = co.speakers if by == "speaker" else co.label_names
    members = []  # each class: the mean of its unit-length embeddings
    for k in sorted(set(keys)):
        rows = co.vectors[[i for i, key in enumerate(keys) if key == k]]
        members.append((rows / np.linalg.norm(rows, axis=1, keepdims=True)).mean(axis=0))
    assert len(members) == (9 if by == "speaker" else 3)
    row = es.row_of()
    e, t = np.array([row[a] for a in tr.enroll]), np.array([row[b] for b in tr.test])
    top_k = 2 if by == "label" else 5
    got = score_trials(es, tr, cohort=co, norm="asnorm", top_k=top_k, cohort_by=by).scores
    np.testing.assert_allclose(got, _norm_loop(es.vectors, e, t, np.array(members), top_k), rtol=1e-4,
                               atol=1e-4)
    plain = score_trials(es, tr, cohort=co, norm="asnorm", top_k=top_k).scores
    assert not np.allclose(got, plain, atol=1e-3)  # the segments themselves are another cohort


# --- trial lists -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 7, 50])
def test_pair_decoding_matches_triu(n):
    i, j = _pair_from_flat(np.arange(n * (n - 1) // 2), n)
    ri, rj = np.triu_indices(n, k=1)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_array_equal(j, rj)


def test_read_both_trial_forms_and_round_trip(tmp_path):
    p = tmp_path / "trials.txt"
    p.write_text("# comment\n1 a b\n\n0 a c\nb c target\nc d nontarget\n")
    tr = read_trials(p)
    assert tr.enroll == ["a", "a", "b", "c"] and tr.test == ["b", "c", "c", "d"]
    assert tr.labels.tolist() == [1, 0, 1, 0] and tr.lines.tolist() == [2, 4, 5, 6]
    write_trials(tr, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == "1 a b\n0 a c\n1 b c\n0 c d\n"
    p.write_text("a b\nc d\n")
    assert read_trials(p).labels.tolist() == [-1, -1]


def test_malformed_trial_lines_are_named(tmp_path):
    p = tmp_path / "trials.txt"
    p.write_text("1 a b\n2 a b\n0 a c\nonly\na b c d\n")
    with pytest.raises(AudiocsError, match=r"trials.txt: 3 malformed line\(s\), at line 2, 4, 5"):
        read_trials(p)
    p.write_text("\n# nothing\n")
    with pytest.raises(AudiocsError, match="no trials"):
        read_trials(p)


def test_generate_all_pairs():
    es = _embedding_set(n_spk=3, per=4)
    tr = generate_trials(es, by="speaker")
    assert len(tr) == 12 * 11 // 2
    assert int(tr.labels.sum()) == 3 * (4 * 3 // 2)
    spk = dict(zip(es.ids, es.speakers))
    assert all((spk[a] == spk[b]) == bool(y) for a, b, y in zip(tr.enroll, tr.test, tr.labels))


def test_generate_balanced_sample_is_seeded_distinct_and_disjoint():
    es = _embedding_set(n_spk=20, per=10)
    held_out = {f"spk{i}" for i in range(10, 20)}
    tr = generate_trials(es, by="speaker", num_trials=400, seed=5, exclude={f"spk{i}" for i in range(10)})
    assert len(tr) == 400 and int(tr.labels.sum()) == 200
    spk = dict(zip(es.ids, es.speakers))
    assert {spk[x] for x in tr.enroll + tr.test} <= held_out
    pairs = {tuple(sorted(p)) for p in zip(tr.enroll, tr.test)}
    assert len(pairs) == 400 and all(a != b for a, b in pairs)
    assert all((spk[a] == spk[b]) == bool(y) for a, b, y in zip(tr.enroll, tr.test, tr.labels))
    again = generate_trials(es, by="speaker", num_trials=400, seed=5, include=held_out)
    assert again.enroll == tr.enroll and again.test == tr.test
    other = generate_trials(es, by="speaker", num_trials=400, seed=6, include=held_out)
    assert (other.enroll, other.test) != (tr.enroll, tr.test)


def test_generate_by_label_takes_all_targets_when_few():
    es = _embedding_set(n_spk=6, per=2)  # labels: 3 classes with 4 rows each -> 18 target pairs
    tr = generate_trials(es, by="label", num_trials=60)
    assert int(tr.labels.sum()) == 18 and len(tr) == 18 + 42


def test_trials_command_excludes_training_speakers(tmp_path):
    es = _embedding_set(n_spk=8, per=4)
    write_embeddings(tmp_path / "eval", es)
    write_embeddings(tmp_path / "train", es.subset(np.arange(12)))  # speakers spk0..spk2
    out = tmp_path / "trials.txt"
    assert main(["trials", "--embeddings", str(tmp_path / "eval"), "--out", str(out),
                 "--exclude-from", str(tmp_path / "train" / "index.csv")]) == 0
    tr = read_trials(out)
    spk = dict(zip(es.ids, es.speakers))
    assert {spk[x] for x in tr.enroll + tr.test} == {f"spk{i}" for i in range(3, 8)}
    assert len(tr) == 20 * 19 // 2


# --- embedding folders and bad input -----------------------------------------------------


def test_embeddings_round_trip_normalized_with_kaldi(tmp_path):
    import kaldiio

    es = _embedding_set()
    write_embeddings(tmp_path, es, ark=True)
    back = read_embeddings(tmp_path)
    assert back.ids == es.ids and back.speakers == es.speakers and back.label_names == es.label_names
    np.testing.assert_allclose(np.linalg.norm(back.vectors, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(back.vectors[3], es.vectors[3] / np.linalg.norm(es.vectors[3]), atol=1e-6)
    ark = kaldiio.load_scp(str(tmp_path / "embeddings.scp"))
    np.testing.assert_allclose(ark["utt007"], back.vectors[7])
    assert not list(tmp_path.glob(".*tmp"))


def test_fused_cosine_is_the_mean_of_the_members_cosines(tmp_path, capsys):
    a, b = _embedding_set(seed=0), _embedding_set(seed=1, dim=8)
    order = np.random.default_rng(2).permutation(len(b))  # the second set in another row order
    write_embeddings(tmp_path / "a", a)
    write_embeddings(tmp_path / "b", b.subset(order))
    assert main(["fuse", "--embeddings", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--out", str(tmp_path / "ab")]) == 0
    assert "30 embeddings of dimension 24 (2 models)" in capsys.readouterr().out
    ab = read_embeddings(tmp_path / "ab")
    assert ab.ids == a.ids and ab.speakers == a.speakers and ab.labels.tolist() == a.labels.tolist()
    np.testing.assert_allclose(np.linalg.norm(ab.vectors, axis=1), 1.0, atol=1e-6)
    for i, j in ((0, 1), (3, 17), (29, 5)):
        mean = (_cos(a.vectors[i], a.vectors[j]) + _cos(b.vectors[i], b.vectors[j])) / 2
        assert float(ab.vectors[i] @ ab.vectors[j]) == pytest.approx(mean, abs=1e-5)
    # one set alone is itself
    np.testing.assert_allclose(fuse_embeddings([a]).vectors, read_embeddings(tmp_path / "a").vectors, atol=1e-6)


def test_fusing_different_clips_or_speakers_is_named():
    a, b = _embedding_set(), _embedding_set(seed=1)
    fewer = b.subset(np.arange(len(b) - 1))
    fewer = EmbeddingSet(fewer.ids, fewer.vectors, fewer.labels, fewer.label_names, fewer.speakers, "run2")
    with pytest.raises(AudiocsError, match=r"run2: cannot fuse with <memory>: 1 id\(s\) of <memory> missing \(e.g. 'utt029'\)"):
        fuse_embeddings([a, fewer])
    with pytest.raises(AudiocsError, match=r"cannot fuse with run2: 1 id\(s\) not in run2"):
        fuse_embeddings([fewer, a])
    other = EmbeddingSet(b.ids, b.vectors, b.labels, b.label_names, ["x"] + b.speakers[1:], "run3")
    with pytest.raises(AudiocsError, match=r"run3: id 'utt000' has speaker 'x', <memory> has 'spk0'"):
        fuse_embeddings([a, other])


def test_duplicate_ids_nan_rows_and_size_mismatch_are_named(tmp_path):
    es = _embedding_set()
    write_embeddings(tmp_path, es)
    index = tmp_path / "index.csv"
    lines = index.read_text().splitlines()
    lines[5] = lines[2].split(",")[0] + "," + lines[5].split(",", 1)[1]  # row 4 reuses the id of row 1
    index.write_text("\n".join(lines) + "\n")
    with pytest.raises(AudiocsError, match=r"duplicate id in index.csv: lines 3 and 6 \('utt001'\)"):
        read_embeddings(tmp_path)
    write_embeddings(tmp_path, es)
    x = np.load(tmp_path / "embeddings.npy")
    x[4, 2] = np.nan
    np.save(tmp_path / "embeddings.npy", x)
    with pytest.raises(AudiocsError, match=r"1 embedding\(s\) with NaN/inf values, index.csv line\(s\) 6 \('utt004'\)"):
        read_embeddings(tmp_path)
    np.save(tmp_path / "embeddings.npy", x[:-1])
    with pytest.raises(AudiocsError, match="index.csv has 30 rows but embeddings.npy has 29"):
        read_embeddings(tmp_path)
    with pytest.raises(AudiocsError, match="not found"):
        read_embeddings(tmp_path / "nowhere")


def test_missing_trial_ids_named_or_skipped():
    es = _embedding_set()
    tr = Trials(["utt000", "ghost", "utt002", "utt003"], ["utt001", "utt001", "utt004", "phantom"],
                np.array([1, 0, 1, 0], np.int8), np.array([3, 4, 5, 6]), "list.txt")
    with pytest.raises(AudiocsError, match=r"list.txt: 2 trial\(s\) name ids missing .* line 4 \('ghost'\), "
                                           r"line 6 \('phantom'\); pass --skip-missing"):
        score_trials(es, tr)
    scored = score_trials(es, tr, skip_missing=True)
    assert scored.skipped == 2 and scored.kept.tolist() == [0, 2]
    assert scored.scores[0] == pytest.approx(_cos(es.vectors[0], es.vectors[1]), abs=1e-6)


def test_score_trials_with_mean_subtraction():
    es = _embedding_set()
    tr = generate_trials(es)
    mean = _embedding_set(seed=7).vectors.mean(axis=0)
    scored = score_trials(es, tr, mean=mean)
    row = es.row_of()
    ref = np.array([_cos(es.vectors[row[a]] - mean, es.vectors[row[b]] - mean) for a, b in zip(tr.enroll, tr.test)])
    np.testing.assert_allclose(scored.scores, ref, atol=2e-6)


def test_norm_cohort_and_mean_are_checked():
    es = _embedding_set()
    tr = generate_trials(es)
    with pytest.raises(AudiocsError, match="needs a cohort"):
        score_trials(es, tr, norm="asnorm")
    with pytest.raises(AudiocsError, match="dimension 8 differs"):
        score_trials(es, tr, norm="snorm", cohort=_embedding_set(dim=8))
    with pytest.raises(AudiocsError, match=r"mean to subtract has shape \(8,\)"):
        score_trials(es, tr, mean=np.zeros(8))


# --- the commands ------------------------------------------------------------------------


def test_trials_and_score_commands_end_to_end(tmp_path, capsys):
    es = _embedding_set(n_spk=12, per=8, spread=0.6)
    write_embeddings(tmp_path / "eval", es)
    write_embeddings(tmp_path / "cohort", _embedding_set(n_spk=10, per=5, seed=9))
    trials = tmp_path / "trials.txt"
    assert main(["trials", "--embeddings", str(tmp_path / "eval"), "--out", str(trials), "--num-trials", "300"]) == 0
    with trials.open("a") as f:
        f.write("1 utt000 not_there\n")
    out = tmp_path / "scores"
    argv = ["score", "--embeddings", str(tmp_path / "eval"), "--trials", str(trials), "--out", str(out),
            "--cohort", str(tmp_path / "cohort"), "--norm", "asnorm", "--top-k", "20"]
    assert main(argv) == 2
    assert "line 301 ('not_there')" in capsys.readouterr().err
    assert main(argv + ["--skip-missing", "--by", "speaker", "--few-shot", "2"]) == 0
    assert "skipped 1 trial(s)" in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    rows = [line.split() for line in (out / "scores.txt").read_text().splitlines()]
    assert len(rows) == 300 and m["scored"] == 300 and m["skipped_missing"] == 1
    s = np.array([float(r[2]) for r in rows])
    y = np.array([r[3] == "target" for r in rows])
    assert m["eer"] == pytest.approx(equal_error_rate(s, y)[0], abs=1e-6)
    assert m["eer"] < 0.1 and m["retrieval"]["precision_at_1"] > 0.8 and m["few_shot"]["classes"] == 12
    for png in ("det.png", "score_hist.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
