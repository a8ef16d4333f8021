"""Write notebooks/quickstart.ipynb from the cells below (keeps the notebook reviewable).

    python notebooks/build_notebooks.py
"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent

CELLS = [
    ("md", """# sksid quickstart: ADC-SID tokens + IntRR on MovieLens-100k

This notebook runs the library's main pipeline on the real MovieLens-100k data bundled in
the `recbole` wheel:

1. leave-last-out split (last item = test, second-to-last = validation, history 20);
2. `ADCSIDTokenizer` learns behavioural embeddings with SASRec on the training part,
   adds the text (all-MiniLM-L6-v2, offline) and genre modalities, and quantises every
   item into a Semantic ID **with importance weights**;
3. `IntRRRecommender` generates the next item, one token per history item;
4. the same kind of tokens feed a CTR ranker (`SIDRanker`) on rating rows split in time.

Set `SKSID_NOTEBOOK_SMALL=1` for a fast run (CI does); unset it for the real settings."""),
    ("code", """import os
import numpy as np
import matplotlib
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
_, inv, cnt = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
inv = inv.ravel()
group = np.flatnonzero(cnt[inv] > 1)
pair = group[inv[group] == inv[group[0]]][:2] if group.size else np.array([0, 1])
dists = rec.redistribution(pair)
fig, axes = plt.subplots(1, len(dists), figsize=(3 * len(dists), 3), squeeze=False)
for level, (ax, p) in enumerate(zip(axes[0], dists)):
    for j, item in enumerate(pair):
        ax.plot(p[j], label=f"item {item}", alpha=0.8)
    ax.set_title(f"level {level + 1}"); ax.set_xlabel("codeword")
axes[0][0].legend(); plt.tight_layout(); plt.show()
print("items", pair.tolist(), "share SID", codes[pair[0]].tolist() if group.size else "(no collision in this run)")"""),
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


def build():
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
                for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = HERE / "quickstart.ipynb"
    nbf.write(nb, path)
    return path


if __name__ == "__main__":
    print(build())
