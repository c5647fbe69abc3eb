"""scikit-learn references for bench/models-vs-sklearn.ts (benchmark only, never at runtime).

Reads the matrices the TypeScript side wrote (float64 / int32, little-endian) and prints one JSON
line with fit/predict times and test accuracy / AUC per algorithm.
Usage: /usr/bin/python3 bench/reference/models_sklearn.py <dir> <train_rows> <test_rows> <features> <algorithm>
Each algorithm runs in its own process, so the peak RSS printed is that algorithm's.
"""
import json
import sys
import time

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from xgboost import XGBClassifier

folder, n_train, n_test, p, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
x_train = np.fromfile(f"{folder}/x_train.f64", dtype="<f8").reshape(n_train, p)
y_train = np.fromfile(f"{folder}/y_train.i32", dtype="<i4")
x_test = np.fromfile(f"{folder}/x_test.f64", dtype="<f8").reshape(n_test, p)
y_test = np.fromfile(f"{folder}/y_test.i32", dtype="<i4")

models = {
    "majority": lambda: DummyClassifier(strategy="prior"),
    "logistic_regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=200)),
    # Same settings as ours: 100 trees, depth 16, sqrt features, bootstrap, 2 jobs (2 cores).
    "random_forest": lambda: RandomForestClassifier(n_estimators=100, max_depth=16, max_features="sqrt", n_jobs=2, random_state=1),
    # xgboost's histogram method, 2 threads; same rounds, depth, shrinkage, L2 and min child weight as ours.
    "gradient_boosting": lambda: XGBClassifier(
        n_estimators=100, max_depth=6, learning_rate=0.1, reg_lambda=1.0, min_child_weight=1.0,
        tree_method="hist", max_bin=256, n_jobs=2, random_state=1),
    # RBF, C=1, gamma="scale", probabilities by libsvm's internal 5-fold CV, 200 MB kernel cache: as ours.
    "svm": lambda: make_pipeline(StandardScaler(), SVC(kernel="rbf", C=1.0, gamma="scale", probability=True, cache_size=200, random_state=1)),
    # Same network and schedule as ours: 64-32 ReLU, Adam 1e-3, batch 200, exactly 10 epochs, no
    # L2 (alpha=0), no early stopping (tol=0 keeps it from stopping on a plateau).
    "mlp": lambda: make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(64, 32), alpha=0.0, batch_size=200, learning_rate_init=0.001, max_iter=10,
        tol=0.0, n_iter_no_change=10**6, early_stopping=False, random_state=1)),
}
if name not in models:
    sys.exit(f"no reference for algorithm {name!r}; known: {', '.join(models)}")
model = models[name]()
t = time.perf_counter()
model.fit(x_train, y_train)
fit = time.perf_counter() - t
t = time.perf_counter()
proba = model.predict_proba(x_test)
predict = time.perf_counter() - t
one = x_test[:1]
t = time.perf_counter()
for _ in range(200):
    model.predict_proba(one)
one_ms = (time.perf_counter() - t) / 200 * 1000
out = {
    "fit_seconds": fit,
    "predict_seconds": predict,
    "one_row_ms": one_ms,
    "accuracy": float(accuracy_score(y_test, proba.argmax(axis=1))),
    "auc": float(roc_auc_score(y_test, proba[:, 1])),
}
if name == "svm":
    # support vectors per class (classes in ascending order), to set beside ours
    out["support_vectors"] = [int(v) for v in model[-1].n_support_]
# VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork + exec.
with open("/proc/self/status") as status:
    out["peak_rss_mib"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
print(json.dumps(out))
