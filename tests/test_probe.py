"""The p/b/m probe: its AUC, its labels, its causal features and its classifier."""

import numpy as np
import pytest
import torch

from app.data.timeline import SILENCE, Phone, Timeline
from app.eval.probe import (
    IGNORED,
    MEL_CONTEXT,
    encoder_rows,
    fit_probe,
    frame_labels,
    mel_rows,
    roc_auc,
)


def test_auc_is_the_share_of_positive_negative_pairs_ranked_right():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=60).astype(float)  # many ties
    labels = rng.random(60) < 0.3
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[labels] for n in scores[~labels]]
    assert roc_auc(scores, labels) == pytest.approx(np.mean(pairs))
    assert roc_auc(np.arange(4.0), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.arange(4.0), np.array([1, 1, 0, 0])) == 0.0
    with pytest.raises(ValueError):
        roc_auc(np.arange(3.0), np.zeros(3))


def test_labels_mark_bilabials_other_speech_and_leave_out_silence():
    timeline = Timeline((Phone(0.0, 0.1, SILENCE, 0), Phone(0.1, 0.16, "m", 0),
                         Phone(0.16, 0.24, "a", 1), Phone(0.24, 0.3, "p", 0)), duration_s=0.3)
    labels = frame_labels(timeline, 16)
    assert labels.tolist() == [IGNORED] * 5 + [1] * 3 + [0] * 4 + [1] * 3 + [IGNORED]


def test_log_mel_rows_hear_nothing_after_their_frame_unless_told_to_look_ahead():
    mel = torch.randn(20, 80)  # ten animation frames
    later = mel.clone()
    later[12:] += 1.0  # animation frames 6 on change
    for lookahead in (0, 1):
        rows, changed = mel_rows(mel, lookahead), mel_rows(later, lookahead)
        assert rows.shape == (10, (MEL_CONTEXT + 2 * lookahead) * 80)
        same = (rows == changed).all(dim=1)
        assert same[:6 - lookahead].all() and not same[6 - lookahead:].any()
    # row t holds mel frames 2t - 6 .. 2t + 1: the 80 ms that end with animation frame t
    assert torch.equal(mel_rows(mel)[5].view(MEL_CONTEXT, 80), mel[4:12])
    # and, looking ahead, the frames after them too: frame t itself is always heard
    assert torch.equal(mel_rows(mel, 2)[5].view(MEL_CONTEXT + 4, 80), mel[4:16])


def test_encoder_rows_pair_each_frame_with_the_one_before():
    features = torch.arange(12.0).view(6, 2)
    rows = encoder_rows(features)
    assert torch.equal(rows[3], torch.tensor([6.0, 7.0, 4.0, 5.0]))
    assert torch.equal(rows[0, 2:], torch.zeros(2))
    ahead = encoder_rows(features, 1)  # frames t + 1, t, t - 1
    assert torch.equal(ahead[3], torch.tensor([8.0, 9.0, 6.0, 7.0, 4.0, 5.0]))
    assert torch.equal(ahead[5, :2], torch.zeros(2))


def test_the_probe_finds_a_class_hidden_in_a_few_features_and_not_in_noise():
    generator = torch.Generator().manual_seed(0)

    def draw(n, signal):
        labels = (torch.rand(n, generator=generator) < 0.2).numpy()
        features = torch.randn(n, 40, generator=generator)
        features[:, 3] += signal * torch.from_numpy(labels.astype(np.float32))
        return features, labels

    for signal, low, high in ((2.5, 0.9, 1.0), (0.0, 0.42, 0.58)):
        features, labels = draw(2000, signal)
        fresh, fresh_labels = draw(2000, signal)
        assert low < roc_auc(fit_probe(features, labels)(fresh), fresh_labels) < high
