"""Write the notebooks of notebooks/ from the cells below (keeps them reviewable).

    python notebooks/build_notebooks.py            # write the four notebooks (no outputs)
    python notebooks/build_notebooks.py --execute  # and run each with its full settings,
                                                   # storing the outputs in the .ipynb

``tests/test_notebooks.py`` runs every notebook top to bottom with small settings
(``SKSID_NOTEBOOK_SMALL=1``); the committed files hold the outputs of a full-settings run.
"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent

QUICKSTART = [
    ("md", """# sksid quickstart: ADC-SID tokens + IntRR on MovieLens-100k

This notebook runs the library's main pipeline on the real MovieLens-100k data bundled in
the `recbole` wheel:

1. leave-last-out split (last item = test, second-to-last = validation, history 20);
2. `ADCSIDTokenizer` learns behavioural embeddings with SASRec on the training part,
   adds the text (all-MiniLM-L6-v2, offline) and genre modalities, and quantises every
   item into a Semantic ID **with importance weights**;
3. `IntRRRecommender` generates the next item, one token per history item;
4. the same kind of tokens feed a CTR ranker (`SIDRanker`) on rating rows split in time.

**Stored outputs: a full-settings run** (package defaults for every model; on a 2-core
CPU about 10 minutes). CI runs it with `SKSID_NOTEBOOK_SMALL=1` (a few epochs per model),
whose numbers mean nothing."""),
    ("code", """import os
import numpy as np
import matplotlib.pyplot as plt
from sklearn.pipeline import Pipeline

from sksid import ADCSIDTokenizer, IntRRRecommender, MostPopular, SASRecRecommender
from sksid.datasets import load_movielens_100k
from sksid.features import item_features
from sksid.metrics import ranking_report, code_entropy, codebook_utilization
from sksid.model_selection import leave_last_out, train_item_counts

SMALL = os.environ.get("SKSID_NOTEBOOK_SMALL") == "1"
SEED = 0
print("small settings" if SMALL else "full settings")"""),
    ("md", "## The data: a long tail of items"),
    ("code", """data = load_movielens_100k()
split = leave_last_out(data.sequences, max_len=20)
counts = train_item_counts(split, data.n_items)
fig, ax = plt.subplots(1, 2, figsize=(11, 3.5))
ax[0].plot(np.sort(counts)[::-1]); ax[0].set_yscale("log")
ax[0].set(title="training interactions per item (sorted)", xlabel="item rank", ylabel="interactions")
ax[1].hist([len(s) for s in data.sequences], bins=50)
ax[1].set(title="sequence length per user", xlabel="items", ylabel="users")
plt.tight_layout(); plt.show()
print(f"{data.n_users} users, {data.n_items} items, {len(split.y_test)} test users")"""),
    ("md", "## Fit the pipeline"),
    ("code", """feats = item_features(data, text=True, categories=True, show_progress=False)
if SMALL:
    tok = ADCSIDTokenizer(max_epochs=8, random_state=SEED,
                          behavior_estimator=SASRecRecommender(max_epochs=4, random_state=SEED))
    rec = IntRRRecommender(max_epochs=3, d_model=64, n_layers=1, n_heads=2, head_dim=32, d_ff=128,
                           random_state=SEED)
else:
    tok = ADCSIDTokenizer(random_state=SEED)
    rec = IntRRRecommender(random_state=SEED)
pipe = Pipeline([("tok", tok), ("rec", rec)])
pipe.fit(split.X_train, split.y_train, tok__item_features=feats)
tok, rec = pipe.named_steps["tok"], pipe.named_steps["rec"]

hist = rec.history_
fig, ax1 = plt.subplots(figsize=(6, 3.5))
ax1.plot([h["epoch"] for h in hist], [h["train_loss"] for h in hist], "o-", label="train loss")
ax1.set(xlabel="epoch", ylabel="L_rec + λ·L_aln")
if "valid_ndcg" in hist[0]:
    ax2 = ax1.twinx()
    ax2.plot([h["epoch"] for h in hist], [h["valid_ndcg"] for h in hist], "s--", color="C1", label="valid NDCG@10")
    ax2.set_ylabel("validation NDCG@10")
ax1.set_title("IntRR training"); plt.tight_layout(); plt.show()"""),
    ("md", "## Side by side on the test users"),
    ("code", """preds = {
    "MostPopular": MostPopular().fit(split.X_train, split.y_train).predict(split.X_test),
    "SASRec": tok.behavior_estimator_.predict(split.X_test),
    "ADC-SID + IntRR": pipe.predict(split.X_test),
}
reports = {name: ranking_report(split.y_test, p, ks=(5, 10), item_counts=counts) for name, p in preds.items()}
keys = ["recall@10", "ndcg@10", "ndcg@10/head", "ndcg@10/tail"]
x = np.arange(len(keys)); w = 0.8 / len(reports)
fig, ax = plt.subplots(figsize=(9, 3.5))
for i, (name, rep) in enumerate(reports.items()):
    ax.bar(x + i * w, [rep[k] for k in keys], w, label=name)
ax.set_xticks(x + w * (len(reports) - 1) / 2, keys); ax.legend(); ax.set_title("test metrics (full ranking)")
plt.tight_layout(); plt.show()
for name, rep in reports.items():
    print(f"{name:18s}", "  ".join(f"{k}={rep[k]:.4f}" for k in keys))"""),
    ("md", """## What the tokenizer learned
ADC-SID's claim: the behavioural gate gives popular items larger weights on their
behavioural codes, and suppresses them for the long tail, whose collaborative embedding is
noisy."""),
    ("code", """layout = tok.code_layout_
beh = [i for i, name in enumerate(layout) if name.startswith(tok.behavior_modality)]
bw = tok.weights_[:, beh].mean(1)
fig, ax = plt.subplots(1, 2, figsize=(11, 3.5))
ax[0].scatter(counts + 1, bw, s=4, alpha=0.4)
ax[0].set_xscale("log"); ax[0].set(xlabel="training interactions + 1", ylabel="mean behavioural weight",
                                   title="behavioural code weight vs popularity")
ent = code_entropy(tok.codes_, per_position=True)
util = codebook_utilization(tok.codes_, tok.codebook_sizes_, per_position=True)
ax[1].bar(np.arange(len(layout)) - 0.2, ent / np.log2(tok.codebook_size), 0.4, label="entropy / log2 K")
ax[1].bar(np.arange(len(layout)) + 0.2, util, 0.4, label="utilisation")
ax[1].set_xticks(range(len(layout)), layout, rotation=30); ax[1].legend(); ax[1].set_title("codebooks")
plt.tight_layout(); plt.show()
print(f"collision rate {tok.collision_rate_:.4f}")"""),
    ("md", """## IntRR redistributes items that share a Semantic ID
Two items with the same code tuple enter the backbone as different tokens: the Recursive
Assignment Network, anchored on each item's unique id, gives them different level-wise
assignment distributions (the IntRR paper's Figure 3)."""),
    ("code", """codes = rec.codes_[:, : tok.codes_.shape[1]]
# the two items that share the longest code prefix (the whole SID when two items collide)
order = np.lexsort(codes.T[::-1])
shared_len = np.cumprod(codes[order][1:] == codes[order][:-1], axis=1).sum(1)
j = int(np.argmax(shared_len))
pair, shared = order[[j, j + 1]], int(shared_len[j])
dists = rec.redistribution(pair)
fig, axes = plt.subplots(1, len(dists), figsize=(3 * len(dists), 3), squeeze=False)
for level, (ax, p) in enumerate(zip(axes[0], dists)):
    for j, item in enumerate(pair):
        ax.plot(p[j], label=f"item {item}", alpha=0.8)
    ax.set_title(f"level {level + 1}"); ax.set_xlabel("codeword")
axes[0][0].legend(); plt.tight_layout(); plt.show()
print("items", pair.tolist(), f"share the first {shared} of their {codes.shape[1]} codes",
      codes[pair[0], :shared].tolist(), "(the whole SID)" if shared == codes.shape[1] else "")"""),
    ("md", """## Discriminative ranking (CTR) with the same kind of tokens
ADC-SID's second downstream task: predict whether a user rates an item above 3. Every
rating is a row, sorted by time: the first 90 % train, the last 10 % test
(`temporal_split`). In the Pipeline the tokenizer learns behaviour from the **positive
training rows only** (turned into histories), hands the catalogue's codes and weights to
`SIDRanker` (a PPNet), and never sees a test row. We compare item IDs, ADC-SID codes
without weights, and with their importance weights (AUC, GAUC, AUC by item popularity)."""),
    ("code", """import warnings
from sklearn.metrics import roc_auc_score
from sksid import SIDRanker
from sksid.metrics import gauc, popularity_strata
from sksid.model_selection import temporal_split

rows = data.interactions.assign(label=(data.interactions["rating"] > 3).astype(int))
ctr_train, ctr_test = temporal_split(rows, test_size=0.1)
cols = ["user_id", "item_id", "timestamp"]
if SMALL:
    ctr_tok = ADCSIDTokenizer(max_epochs=8, random_state=SEED,
                              behavior_estimator=SASRecRecommender(max_epochs=4, random_state=SEED))
    rank_kw = dict(max_epochs=3, random_state=SEED)
else:
    ctr_tok, rank_kw = ADCSIDTokenizer(random_state=SEED), dict(random_state=SEED)
ctr = Pipeline([("tok", ctr_tok), ("rank", SIDRanker(**rank_kw))])
ctr.fit(ctr_train[cols], ctr_train["label"], tok__item_features=feats)
ctr_tok = ctr.named_steps["tok"]
models = {
    "item ID only": SIDRanker(**rank_kw).fit(ctr_train[cols], ctr_train["label"]),
    "ADC-SID, no weights": SIDRanker(code_weights=False, **rank_kw).fit(ctr_tok.transform(ctr_train[cols]), ctr_train["label"]),
    "ADC-SID + weights (Pipeline)": ctr,
}
pop = np.bincount(ctr_train["item_id"], minlength=data.n_items)
head, tail = popularity_strata(pop, 0.25)
y_test, items = ctr_test["label"].to_numpy(), ctr_test["item_id"].to_numpy()
res = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # users who arrive in the test period: cold-start fallback
    for name, m in models.items():
        s = m.predict_proba(ctr_test[cols])[:, 1]
        res[name] = {"AUC": roc_auc_score(y_test, s), "GAUC": gauc(y_test, s, ctr_test["user_id"]),
                     "AUC head": roc_auc_score(y_test[head[items]], s[head[items]]),
                     "AUC tail": roc_auc_score(y_test[tail[items]], s[tail[items]])}
keys = ["AUC", "GAUC", "AUC head", "AUC tail"]
x = np.arange(len(keys)); w = 0.8 / len(res)
fig, ax = plt.subplots(figsize=(9, 3.5))
for i, (name, r) in enumerate(res.items()):
    ax.bar(x + i * w, [r[k] for k in keys], w, label=name)
ax.set_xticks(x + w * (len(res) - 1) / 2, keys); ax.set_ylim(0.45, None); ax.legend(fontsize=8)
ax.set_title("CTR test metrics by item popularity (head = top 25 %, tail = bottom 25 %)")
plt.tight_layout(); plt.show()
for name, r in res.items():
    print(f"{name:30s}", "  ".join(f"{k}={r[k]:.4f}" for k in keys))"""),
]


def setup(imports):
    """The first code cell of the anatomy / search notebooks: ``imports``, then the data."""
    return imports + """
from sksid.datasets import load_movielens_100k
from sksid.features import item_features
from sksid.model_selection import leave_last_out, train_item_counts

SMALL = os.environ.get("SKSID_NOTEBOOK_SMALL") == "1"
SEED = 0
data = load_movielens_100k()
split = leave_last_out(data.sequences, max_len=20)
counts = train_item_counts(split, data.n_items)
feats = item_features(data, text=True, categories=True, show_progress=False)
print("small settings" if SMALL else "full settings", "|", data.n_users, "users,", data.n_items, "items")"""


ADCSID_ANATOMY = [
    ("md", """# Anatomy of an ADC-SID tokenizer (MovieLens-100k)

What `ADCSIDTokenizer` learned on the bundled MovieLens-100k: how evenly each codebook is
used, how the importance weights of the behavioural codes follow item popularity, how the
alignment strength follows the behaviour signal, which films share codes (and why), and
what each of the paper's Table-3 ablation switches changes.

**Stored outputs: a full-settings run** (package defaults: the tokenizer's own SASRec,
then 100 ADC-SID epochs; the five ablation fits reuse the same SASRec item table; about
6 minutes on one CPU thread). CI runs it with `SKSID_NOTEBOOK_SMALL=1` (a few epochs), whose
numbers mean nothing."""),
    ("code", setup("""import os
import time
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from scipy.stats import spearmanr

from sksid import ADCSIDTokenizer, SASRecRecommender
from sksid.metrics import code_entropy, codebook_utilization, popularity_strata""")),
    ("md", "## Fit: behaviour from the training histories, content from titles and genres"),
    ("code", """if SMALL:
    tok = ADCSIDTokenizer(max_epochs=5, random_state=SEED,
                          behavior_estimator=SASRecRecommender(max_epochs=3, random_state=SEED))
else:
    tok = ADCSIDTokenizer(random_state=SEED)
tok.fit(split.X_train, split.y_train, item_features=feats)
codes, weights = tok.codes_, tok.weights_
layout = tok.code_layout_
print("code layout:", layout)
print(f"collision rate {tok.collision_rate_:.4f}, reliability signal: {tok.reliability_}")"""),
    ("md", """## Codebook use
Entropy (bits, out of log2 K) and utilisation (share of the K codewords used) per code
position, and each codebook's usage curve (items per codeword, sorted). A flat curve is a
well-spread codebook; a steep head means a few codewords hold most items."""),
    ("code", """K = tok.codebook_size
ent = code_entropy(codes, per_position=True)
util = codebook_utilization(codes, tok.codebook_sizes_, per_position=True)
fig, ax = plt.subplots(1, 2, figsize=(12, 3.6))
x = np.arange(len(layout))
ax[0].bar(x - 0.2, ent / np.log2(K), 0.4, label="entropy / log2 K")
ax[0].bar(x + 0.2, util, 0.4, label="utilisation")
ax[0].set_xticks(x, layout, rotation=30); ax[0].set_ylim(0, 1.05); ax[0].legend(); ax[0].set_title("per code position")
for j, name in enumerate(layout):
    ax[1].plot(np.sort(np.bincount(codes[:, j], minlength=K))[::-1], label=name)
ax[1].axhline(len(codes) / K, color="k", ls=":", label="uniform")
ax[1].set(xlabel="codeword rank", ylabel="items", title="items per codeword"); ax[1].legend(fontsize=8)
plt.tight_layout(); plt.show()
pd.DataFrame({"entropy bits": ent, "utilisation": util}, index=layout).round(3)"""),
    ("md", """## Importance weights against item popularity
ADC-SID's behavioural gate R(e_b) (Eq. 22, bounded to [0, 1]) should give items with more
interaction evidence larger weights on their behavioural codes. Content and shared codes
have weight 1 (shared) or the softmax gate (content)."""),
    ("code", """beh = [j for j, name in enumerate(layout) if name.startswith(tok.behavior_modality)]
deciles = np.digitize(np.log1p(counts), np.quantile(np.log1p(counts), np.linspace(0, 1, 11)[1:-1]))
fig, ax = plt.subplots(1, 2, figsize=(12, 3.6))
ax[0].scatter(counts + 1, weights[:, beh].mean(1), s=4, alpha=0.35)
ax[0].set_xscale("log"); ax[0].set(xlabel="training interactions + 1", ylabel="mean behavioural weight",
                                   title="behavioural weight per item")
for j in beh:
    ax[1].plot([weights[deciles == d, j].mean() for d in range(10)], "o-", label=layout[j])
ax[1].set(xlabel="popularity decile (0 = tail)", ylabel="mean weight", title="by popularity decile"); ax[1].legend()
plt.tight_layout(); plt.show()
print("Spearman(weight, count) per behavioural code:",
      {layout[j]: round(spearmanr(weights[:, j], counts).correlation, 3) for j in beh})"""),
    ("md", """## Alignment strength against the behaviour signal
Eq. 15-17: `w = sigmoid(alpha * N_norm - beta)` sets how strongly an item's behaviour is
aligned with its content. The paper takes N_norm from the L2 norm of the behavioural
embedding; our SASRec's norms fall with popularity, so the package's default
(`reliability="auto"`) uses log interaction counts when it has them. Left: strength
against the SASRec norm (the paper's proxy), coloured by popularity; right: against
N_norm (the signal actually used)."""),
    ("code", """norm = np.linalg.norm(tok.item_embeddings_, axis=1)
fig, ax = plt.subplots(1, 2, figsize=(12, 3.6))
sc = ax[0].scatter(norm, tok.alignment_strength_, c=np.log1p(counts), s=5, cmap="viridis")
ax[0].set(xlabel="||e_b|| (SASRec item embedding)", ylabel="alignment strength w", title="strength vs behaviour norm")
plt.colorbar(sc, ax=ax[0], label="log(1 + interactions)")
ax[1].scatter(tok.n_norm_, tok.alignment_strength_, s=5)
ax[1].set(xlabel=f"N_norm ({tok.reliability_})", ylabel="alignment strength w", title="Eq. 17")
plt.tight_layout(); plt.show()
print("Spearman(norm, count) =", round(spearmanr(norm, counts).correlation, 3),
      "| Spearman(strength, count) =", round(spearmanr(tok.alignment_strength_, counts).correlation, 3))"""),
    ("md", """## Which films share a code, and why
The ten most-watched films with their codes, then the largest group of films that share
their shared and text codes, and the films whose whole tuple collides."""),
    ("code", """titles = np.asarray(data.item_text, dtype=object)
genres = np.asarray([", ".join(g) if isinstance(g, (list, tuple)) else str(g) for g in data.item_categories], dtype=object)
top = np.argsort(-counts)[:10]
pd.set_option("display.max_colwidth", 60)
display(pd.DataFrame({"title": titles[top], "interactions": counts[top],
                      "codes": [tuple(c) for c in codes[top]],
                      "behavioural weights": [tuple(np.round(w[beh], 2)) for w in weights[top]]}))
text_pos = [j for j, name in enumerate(layout) if name.startswith("text")][0]
pair = codes[:, [0, text_pos]]
_, inv, cnt = np.unique(pair, axis=0, return_inverse=True, return_counts=True)
inv = inv.ravel()
g = np.flatnonzero(inv == np.argmax(cnt))
print(f"largest group sharing ({layout[0]}, {layout[text_pos]}) = {tuple(pair[g[0]])}: {len(g)} films")
display(pd.DataFrame({"title": titles[g][:8], "genres": genres[g][:8], "interactions": counts[g][:8]}))
col = np.asarray(tok.collisions_)
print(f"{len(col)} films share their whole tuple with another film:")
display(pd.DataFrame({"title": titles[col][:8], "codes": [tuple(c) for c in codes[col][:8]]}))"""),
    ("md", """## The Table-3 ablation switches
Each switch turns one component of the paper off. All fits quantise the same inputs (text,
genres and the SASRec item table learned above, with the same interaction counts), so the
differences are the component alone. Tail / head: the bottom / top 25 % of items by
training interactions."""),
    ("code", """inputs = {**feats, tok.behavior_modality: tok.item_embeddings_}
head, tail = popularity_strata(counts, 0.25)
epochs = 5 if SMALL else 100
switches = {"full model": {}, "no alignment (Eq. 18-21)": {"use_alignment": False},
            "no strength controller (Eq. 15-17)": {"use_strength_controller": False},
            "no behaviour gate (Eq. 22)": {"use_behavior_gate": False},
            "no sparsity regulariser (Eq. 23)": {"use_sparsity_reg": False}}
rows = {}
for name, kw in switches.items():
    t0 = time.perf_counter()
    ab = ADCSIDTokenizer(random_state=SEED, max_epochs=epochs, **kw).fit(inputs, item_counts=counts)
    w = ab.weights_[:, beh]
    rows[name] = {"entropy bits": code_entropy(ab.codes_), "collision rate": ab.collision_rate_,
                  "beh. weight head": w[head].mean(), "beh. weight tail": w[tail].mean(),
                  "zero gates": float((w == 0).mean()), "fit s": time.perf_counter() - t0}
table = pd.DataFrame(rows).T
fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
for a, key in zip(ax, ["entropy bits", "collision rate", "beh. weight head"]):
    a.barh(table.index, table[key]); a.set_title(key)
ax[2].barh(table.index, table["beh. weight tail"], alpha=0.6, label="tail"); ax[2].set_title("behavioural weight: head vs tail")
ax[2].legend(["head", "tail"])
for a in ax[1:]:
    a.set_yticklabels([])
plt.tight_layout(); plt.show()
table.round(4)"""),
]

INTRR_ANATOMY = [
    ("md", """# Anatomy of IntRR against TIGER on the same codes (MovieLens-100k)

IntRR keeps one token per history item; TIGER-style flattened generation spends L tokens
per item. Both are fitted here on the **same** ADC-SID codes with the same backbone, epoch
budget and beam search, so the differences are the tokenisation alone: tokens per
sequence, training speed, quality, latency against beam width, and what IntRR's Recursive
Assignment Network (RAN) does with items that share a Semantic ID (the IntRR paper's
Figure 3).

**Stored outputs: a full-settings run** (the default tokenizer; IntRR and TIGER at their
CPU defaults for 15 epochs each, an equal-epoch budget; about 15 minutes on a 2-core CPU).
CI runs it with `SKSID_NOTEBOOK_SMALL=1`, whose numbers mean nothing."""),
    ("code", setup("""import os
import time
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

from sksid import ADCSIDTokenizer, IntRRRecommender, SASRecRecommender, TIGERRecommender
from sksid.metrics import ndcg_at_k""")),
    ("md", "## The codes both models use"),
    ("code", """if SMALL:
    tok = ADCSIDTokenizer(max_epochs=2, random_state=SEED,
                          behavior_estimator=SASRecRecommender(max_epochs=1, random_state=SEED))
else:
    tok = ADCSIDTokenizer(random_state=SEED)
tok.fit(split.X_train, split.y_train, item_features=feats)
train = tok.transform(split.X_train)     # SIDSequences: histories + codes + weights
test = tok.transform(split.X_test)
print("SID length", tok.codes_.shape[1], "| layout", tok.code_layout_)"""),
    ("md", "## Fit both with the same budget"),
    ("code", """epochs = 1 if SMALL else 15
small_backbone = dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, validation_fraction=0.0) if SMALL else {}
# the paper's IntRR: no UID head (uid_weight=0) and no UID anchor in the history token
# (uid_in_token=False); TIGER has no item-ID embedding or softmax, so the two differ by the
# tokenisation alone
models = {"IntRR": IntRRRecommender(max_epochs=epochs, uid_weight=0.0, uid_in_token=False, random_state=SEED,
                                    **small_backbone),
          "TIGER": TIGERRecommender(max_epochs=epochs, random_state=SEED, **small_backbone)}
rows = {}
for name, m in models.items():
    t0 = time.perf_counter()
    m.fit(train, split.y_train)
    fit_s = time.perf_counter() - t0
    rows[name] = {"tokens per item": m.tokens_per_item_,
                  "tokens per sequence": m.tokens_per_item_ * m.max_len,
                  "epochs": m.n_epochs_, "s per epoch": np.mean([h["dur"] for h in m.history_]),
                  "test NDCG@10": ndcg_at_k(split.y_test, m.predict(test), 10)}
table = pd.DataFrame(rows).T
table.loc["IntRR / TIGER"] = table.loc["IntRR"] / table.loc["TIGER"]
fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
for a, key in zip(ax, ["tokens per sequence", "s per epoch", "test NDCG@10"]):
    a.bar(["IntRR", "TIGER"], table.loc[["IntRR", "TIGER"], key], color=["C0", "C1"]); a.set_title(key)
plt.tight_layout(); plt.show()
table.round(4)"""),
    ("md", """## Latency against beam width
Constrained beam search over the catalogue's trie, on every test user (ms per user,
after a warm-up call), and the NDCG@10 each width reaches."""),
    ("code", """widths = [10, 20, 50]
users = slice(0, 150 if SMALL else len(split.y_test))   # CI: a subset of the test users
lat_X, lat_y = split.X_test[users], split.y_test[users]
lat = {name: [] for name in models}
qual = {name: [] for name in models}
for name, m in models.items():
    for bw in widths:
        m.set_params(decoding="beam", beam_width=bw)
        m.predict(lat_X[:32])  # warm-up
        t0 = time.perf_counter()
        pred = m.predict(lat_X)
        lat[name].append(1e3 * (time.perf_counter() - t0) / len(lat_y))
        qual[name].append(ndcg_at_k(lat_y, pred, 10))
    m.set_params(decoding="auto", beam_width=20)
fig, ax = plt.subplots(1, 2, figsize=(11, 3.4))
for name in models:
    ax[0].plot(widths, lat[name], "o-", label=name); ax[1].plot(widths, qual[name], "o-", label=name)
ax[0].set(xlabel="beam width", ylabel="ms / user", title="decoding latency"); ax[0].legend()
ax[1].set(xlabel="beam width", ylabel="test NDCG@10", title="quality"); ax[1].legend()
plt.tight_layout(); plt.show()
pd.DataFrame({f"{n} ms/user": lat[n] for n in models} | {f"{n} NDCG@10": qual[n] for n in models}, index=widths).round(4)"""),
    ("md", """## What the RAN does with the codes
`redistribution()` returns, per level, the RAN's assignment distribution `p_l` over the
codebook for each item (input side). If the RAN only copied the tokenizer's SIDs, each
`p_l` would put all its mass on the item's own code. Per level: the mass on the own code,
the share of items whose most likely codeword is their own code, and the entropy of `p_l`
(bits); then two items that share their whole tuple, whose distributions the items' UID
anchors pull apart."""),
    ("code", """rec = models["IntRR"]
dists = rec.redistribution()
L = len(dists)
own = [d[np.arange(len(d)), rec.codes_[:, l]].mean() for l, d in enumerate(dists)]
top1 = [(d.argmax(1) == rec.codes_[:, l]).mean() for l, d in enumerate(dists)]
ent = [(-(d * np.log2(np.clip(d, 1e-12, None))).sum(1)).mean() for d in dists]
fig, ax = plt.subplots(1, 3, figsize=(13, 3.2))
ax[0].bar(range(1, L + 1), own); ax[0].set(title="mass on the item's own code", xlabel="level")
ax[1].bar(range(1, L + 1), top1); ax[1].set(title="argmax = own code", xlabel="level")
ax[2].bar(range(1, L + 1), ent); ax[2].set(title="entropy of p_l (bits)", xlabel="level")
plt.tight_layout(); plt.show()
codes = rec.codes_[:, : rec.code_length_]
order = np.lexsort(codes.T[::-1])  # the two items sharing the longest code prefix
shared_len = np.cumprod(codes[order][1:] == codes[order][:-1], axis=1).sum(1)
j = int(np.argmax(shared_len))
pair, shared = order[[j, j + 1]], int(shared_len[j])
sub = rec.redistribution(pair)
fig, axes = plt.subplots(1, L, figsize=(2.6 * L, 2.8), squeeze=False)
for level, (a, p) in enumerate(zip(axes[0], sub)):
    for j, item in enumerate(pair):
        a.plot(p[j], label=f"item {item}", alpha=0.8)
    a.set_title(f"level {level + 1}"); a.set_xlabel("codeword")
axes[0][0].legend(fontsize=7); plt.tight_layout(); plt.show()
print("items", pair.tolist(), f"share the first {shared} of their {codes.shape[1]} codes",
      codes[pair[0], :shared].tolist(), "(the whole SID)" if shared == codes.shape[1] else "")"""),
]

GRID_SEARCH = [
    ("md", """# Grid search over tokenizer and recommender together (MovieLens-100k)

`GridSearchCV` treats `Pipeline([("tok", ADCSIDTokenizer()), ("rec", IntRRRecommender())])`
as one estimator: every candidate refits the tokenizer (its SASRec included) and the
recommender. `split.search_data()` returns `(X, y, cv)` with `cv` a `LeaveLastOutCV`: the
candidates train on the training histories and are scored (NDCG@10, the recommender's
`score`) on the validation items; the test items are touched once, by the refitted best.

The Pipeline gets a `memory=` cache (scikit-learn's own): candidates that share the
tokenizer's parameters reuse its fit, so the 2 x 2 grid fits the tokenizer (and its SASRec)
twice instead of four times, and the refit of the best reuses it too.

**Stored outputs: a full-settings run with reduced budgets** (SASRec 5 epochs, ADC-SID 20,
IntRR 10 per candidate, about 10 minutes on one CPU thread: 10 min 38 s on 2026-12-06 beside another fit; at the package defaults each
tokenizer fit is a 6-minute SASRec + ADC-SID fit). CI runs it with
`SKSID_NOTEBOOK_SMALL=1`, whose numbers mean nothing."""),
    ("code", setup("""import os
import tempfile
import time
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.pipeline import Pipeline

from sksid import ADCSIDTokenizer, IntRRRecommender, SASRecRecommender
from sksid.metrics import ndcg_at_k""")),
    ("md", "## The search"),
    ("code", """from sklearn.model_selection import GridSearchCV

if SMALL:  # CI: one epoch each, a tiny backbone, no per-epoch validation
    budget = dict(sasrec=1, tok=2, rec=1)
    backbone = dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, validation_fraction=0.0, beam_width=10)
else:
    budget, backbone = dict(sasrec=5, tok=20, rec=10), {}
cache = tempfile.mkdtemp()  # scikit-learn's Pipeline(memory=...): fitted tokenizers are reused
pipe = Pipeline([
    ("tok", ADCSIDTokenizer(max_epochs=budget["tok"], random_state=SEED,
                            behavior_estimator=SASRecRecommender(max_epochs=budget["sasrec"], random_state=SEED))),
    ("rec", IntRRRecommender(max_epochs=budget["rec"], random_state=SEED, **backbone)),
], memory=cache)
grid = {"tok__codebook_size": [32, 64], "rec__code_weights": [True, False]}
X, y, cv = split.search_data()
t0 = time.perf_counter()
gs = GridSearchCV(pipe, grid, cv=cv, n_jobs=1, refit=True).fit(X, y, tok__item_features=feats)
print(f"search + refit: {time.perf_counter() - t0:.0f} s; best {gs.best_params_}, validation NDCG@10 {gs.best_score_:.4f}")"""),
    ("md", "## Results as a table and a plot"),
    ("code", """res = pd.DataFrame(gs.cv_results_)
cols = [c for c in res.columns if c.startswith("param_")] + ["mean_test_score", "mean_fit_time", "rank_test_score"]
table = res[cols].rename(columns=lambda c: c.replace("param_", "")).sort_values("rank_test_score")
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for w, grp in res.groupby("param_rec__code_weights"):
    ax.plot(grp["param_tok__codebook_size"].astype(int), grp["mean_test_score"], "o-", label=f"code_weights={w}")
ax.set(xlabel="tok__codebook_size (K)", ylabel="validation NDCG@10", title="GridSearchCV over the Pipeline"); ax.legend()
plt.tight_layout(); plt.show()
fig, ax = plt.subplots(figsize=(6.5, 3))
labels = [f"K={k}, weights={w}" for k, w in zip(res["param_tok__codebook_size"], res["param_rec__code_weights"])]
ax.barh(labels, res["mean_fit_time"]); ax.set(xlabel="fit seconds (tokenizer + SASRec + IntRR)", title="cost per candidate")
plt.tight_layout(); plt.show()
table"""),
    ("md", "## The refitted best pipeline on the test users"),
    ("code", """best = gs.best_estimator_
test_ndcg = ndcg_at_k(split.y_test, best.predict(split.X_test), 10)
print(f"best {gs.best_params_}: test NDCG@10 {test_ndcg:.4f} (validation {gs.best_score_:.4f})")
hist = best.named_steps["rec"].history_
fig, ax = plt.subplots(figsize=(6.5, 3))
ax.plot([h["epoch"] for h in hist], [h["train_loss"] for h in hist], "o-", label="train loss")
ax.set(xlabel="epoch", ylabel="L_rec + λ·L_aln", title="the refitted best IntRR")
if "valid_ndcg" in hist[0]:
    ax2 = ax.twinx(); ax2.plot([h["epoch"] for h in hist], [h["valid_ndcg"] for h in hist], "s--", color="C1")
    ax2.set_ylabel("validation NDCG@10 (early stopping)")
plt.tight_layout(); plt.show()"""),
]

NOTEBOOKS = {"quickstart": QUICKSTART, "adcsid_anatomy": ADCSID_ANATOMY,
             "intrr_anatomy": INTRR_ANATOMY, "grid_search": GRID_SEARCH}


def notebook(name):
    """The notebook NAME as this script writes it (cells and kernel, no outputs)."""
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
                for kind, src in NOTEBOOKS[name]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def strip_stderr(nb):
    """Drop the stored stderr streams (progress bars, library warnings that name the machine's
    paths): the stored outputs are the results a reader should see."""
    for cell in nb.cells:
        if cell.get("outputs"):
            cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream"
                                                              and o.get("name") == "stderr")]
    return nb


def build(name, execute=False, timeout=3600):
    """Write notebooks/NAME.ipynb; with ``execute``, run it (full settings) and keep the outputs."""
    nb = notebook(name)
    path = HERE / f"{name}.ipynb"
    if execute:
        import nbclient
        nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(HERE)}}).execute()
        strip_stderr(nb)
    nbf.write(nb, path)
    return path


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", default=list(NOTEBOOKS), help="notebooks to write (default: all)")
    ap.add_argument("--execute", action="store_true", help="run each (full settings) and store its outputs")
    args = ap.parse_args()
    for name in args.names:
        print(build(name, execute=args.execute))
