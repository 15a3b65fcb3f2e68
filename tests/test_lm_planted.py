"""The planted-quanta language: deterministic, Zipf-planted, labels that survive tokenisation, a corpus spec."""

import numpy as np
import pandas as pd
import pytest

from quanta.errors import QuantaError
from quanta.lm.corpus import load_corpus, tokenize_documents
from quanta.lm.planted import (PlantedSpec, generate_document, parse_planted_spec, row_skills, skill_losses,
                               skill_table, window_skills)
from quanta.lm.planted_score import score_against_planted

SPEC = "planted:skills=60,alpha=0.5,seed=3,docs=300,doc_len=128"


@pytest.fixture(scope="module")
def docs():
    return load_corpus(SPEC)


@pytest.fixture(scope="module")
def tokenizer(docs):
    from quanta.lm.train import train_tokenizer

    return train_tokenizer([d.text for d in docs], vocab_size=512)


def test_generator_is_deterministic_and_seeded():
    ps, _ = parse_planted_spec(SPEC)
    a, b = generate_document(ps, 7), generate_document(ps, 7)
    assert a.text == b.text and np.array_equal(a.episodes, b.episodes)
    assert [d.text for d in load_corpus(SPEC, max_docs=20)] == [d.text for d in load_corpus(SPEC, max_docs=20)]
    other, _ = parse_planted_spec(SPEC.replace("seed=3", "seed=4"))
    assert generate_document(other, 7).text != a.text
    # the skills do not depend on the number of documents
    more, _ = parse_planted_spec(SPEC.replace("docs=300", "docs=900"))
    assert skill_table(more).equals(skill_table(ps))
    assert generate_document(more, 7).text == a.text


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_skill_frequencies_follow_the_planted_zipf_law(alpha):
    from quanta.fit import fit_zipf_mle

    ps = PlantedSpec(skills=200, alpha=alpha, seed=1, doc_len=512)
    skills = np.concatenate([generate_document(ps, i).episodes[:, 0] for i in range(600)])
    assert skills.size > 50_000
    fit = fit_zipf_mle(skills, x_min=1, x_max=ps.skills, n_boot=0)
    assert abs(fit.exponent - (alpha + 1)) < 0.05, fit.exponent


def test_every_word_is_one_token_and_labels_hit_the_determined_words(docs, tokenizer):
    ps, _ = parse_planted_spec(SPEC)
    table = skill_table(ps).set_index("skill")
    sample = docs[:40]
    wins = tokenize_documents(sample, tokenizer, context_length=10_000)
    for d, w in zip(sample, wins):
        assert len(w.ids) == len(d.text.split())  # one token per word at vocab 512
    labels = window_skills(wins, sample, tokenizer, SPEC)
    n_checked = 0
    for d, w, lab in zip(sample, wins, labels):
        words = d.text.split()
        g = generate_document(ps, int(d.source.split("/")[1]))
        assert (lab > 0).sum() == len(g.episodes)
        for i in np.nonzero(lab > 0)[0]:
            p = i + 1  # the predicted token's position (= word index)
            k = int(lab[i])
            row = table.loc[k]
            assert " ".join(words[p - 2:p]) == row["trigger"] or " ".join(words[p - 3:p - 1]) == row["trigger"]
            if row["kind"] == "complete":
                assert words[p] == row["answer"]
            elif row["kind"] == "copy":
                assert words[p] == words[p - 2 - int(row["offset"])]
            else:
                assert int(words[p]) == (int(words[p - 1]) + int(row["step"])) % 10
            n_checked += 1
    assert n_checked > 500


def test_labels_follow_offsets_when_words_split_and_windows_cut(docs):
    from quanta.lm.train import train_tokenizer

    small = train_tokenizer([d.text for d in docs[:50]], vocab_size=280)  # too few merges: words split
    sample = docs[:10]
    whole = tokenize_documents(sample, small, context_length=10_000)
    assert sum(len(w.ids) for w in whole) > sum(len(d.text.split()) for d in sample)
    ps, _ = parse_planted_spec(SPEC)
    lab = window_skills(whole, sample, small, ps)
    for d, w, l in zip(sample, whole, lab):
        g = generate_document(ps, int(d.source.split("/")[1]))
        got = small.decode([int(t) for t in w.ids[1:][l > 0]]).split()
        want = [d.text[s:e] for s, e in g.episodes[:, 2:]]
        assert "".join(got) == "".join(want)
    # windows: a determined token whose rule reads text before its window is -1; rows agree with windows
    cut = tokenize_documents(sample, small, context_length=16, n_windows=50)
    lab_cut = window_skills(cut, sample, small, ps)
    rows = pd.DataFrame({"doc": np.concatenate([np.full(len(w.ids) - 1, w.doc) for w in cut]),
                         "pos": np.concatenate([np.arange(w.start + 1, w.start + len(w.ids)) for w in cut])})
    assert np.array_equal(row_skills(rows, sample, small, ps, context_length=16), np.concatenate(lab_cut))
    full = {w.doc: l for w, l in zip(whole, lab)}
    flat_full = np.concatenate([full[w.doc][w.start:w.start + len(w.ids) - 1] for w in cut])
    flat_cut = np.concatenate(lab_cut)
    assert np.all((flat_cut == flat_full) | (flat_cut == -1))
    assert (flat_cut != flat_full).sum() > 0  # some rules straddle a window start


def test_spec_through_load_corpus_splits_and_commas(tmp_path):
    every = load_corpus(SPEC)
    train, test = load_corpus(SPEC + ":train"), load_corpus(SPEC + ":test")
    assert len(every) == 300 and [d.doc for d in every] == list(range(300))
    assert {d.source for d in train} | {d.source for d in test} == {d.source for d in every}
    assert not {d.source for d in train} & {d.source for d in test}
    assert 0.04 < len(test) / len(every) < 0.2
    from quanta.lm.corpus import split_documents

    assert [d.source for d in split_documents(every)[1]] == [d.source for d in test]
    (tmp_path / "a.txt").write_text("hello")
    both = load_corpus(f"{SPEC}:test,{tmp_path / 'a.txt'}")
    assert len(both) == len(test) + 1 and both[-1].text == "hello"
    assert load_corpus("planted", max_docs=2)[0].source == "planted/000000"


@pytest.mark.parametrize("spec, word", [
    ("planted:skills=1", "skills"), ("planted:skills=ten", "skills"), ("planted:flavour=3", "unknown key"),
    ("planted:alpha=-1", "alpha"), ("planted:rate=1", "rate"), ("planted:kinds=complete+juggle", "kinds"),
    ("planted:skills=10:test:train", "split twice"), ("planted:skills", "KEY=VALUE"),
    ("planted:seed=1,seed=2", "twice"), ("planted:background=71", "background"),
])
def test_bad_specs_are_refused_in_one_line(spec, word):
    with pytest.raises(QuantaError) as exc:
        load_corpus(spec)
    line = exc.value.one_line()
    assert word in line and "\n" not in line and exc.value.hint


def test_score_against_planted_on_a_perfect_decomposition(tmp_path, docs, tokenizer):
    from quanta.store import Run

    sample = load_corpus(SPEC, max_docs=30)
    wins = tokenize_documents(sample, tokenizer, context_length=64)
    lab = window_skills(wins, sample, tokenizer, SPEC)
    rows = [(w.doc, i + 1, l[i]) for w, l in zip(wins, lab) for i in np.nonzero(l > 0)[0]]
    tokens = pd.DataFrame(rows, columns=["doc", "pos", "skill"])
    tokens.insert(0, "token", np.arange(len(tokens)))
    truth = tokens["skill"].to_numpy()
    k = len(np.unique(truth))
    clusters = pd.DataFrame({"token": tokens["token"], "n_clusters": k,
                             "cluster": pd.factorize(truth)[0]})
    with Run.create(tmp_path / "qdg", command="qdg", config={"corpus": SPEC, "max_docs": 30, "model": "none"}) as run:
        run.write_table("tokens", tokens.drop(columns="skill"))
        run.write_table("clusters", clusters)
        run.finish({"n_clusters": k, "zipf_exponent": 1.4, "zipf_exponent_ci": [1.3, 1.5]})
    score = score_against_planted(tmp_path / "qdg", tokenizer=tokenizer, n_boot=0)
    assert score["ari"] == pytest.approx(1.0) and score["ari_skill_tokens"] == pytest.approx(1.0)
    assert score["ari_kind"] < 1.0
    assert score["background_share"] == 0.0 and score["planted_exponent"] == 1.5
    assert score["n_skills_selected"] == k and score["oracle_exponent"] > 1.0
    # skill_losses groups a loss table by model and planted skill
    losses = pd.DataFrame({"model": ["m"] * len(truth), "loss": np.where(truth == 1, 0.01, 2.0)})
    sl = skill_losses(losses, truth)
    assert bool(sl.set_index("skill").loc[1, "learned"]) and not sl.set_index("skill").loc[2, "learned"]


def test_loss_floor_share_matches_the_generated_documents():
    from quanta.lm.planted import loss_floor

    ps = PlantedSpec(skills=200, alpha=0.5, seed=2, doc_len=2000)
    gen = [generate_document(ps, i) for i in range(40)]
    share = sum(len(g.episodes) for g in gen) / sum(len(g.text.split()) for g in gen)
    floor = loss_floor(ps)
    assert abs(share - floor["skill_token_share"]) < 0.01
    assert 0 < floor["per_token"] < floor["background_word"]


def test_cli_refuses_a_bad_planted_spec_in_one_line_and_writes_nothing(cli_run, tmp_path):
    code, _, err = cli_run("lm", "train-suite", "--corpus", "planted:skills=200,alfa=0.5", "--preset", "tiny",
                           "--out", str(tmp_path / "s"))
    assert code == 2 and err.count("\n") == 1 and "unknown key 'alfa'" in err
    assert not (tmp_path / "s").exists()
