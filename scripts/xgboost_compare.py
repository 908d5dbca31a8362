#!/usr/bin/python3
"""Train XGBoost (hist) on the feature matrices the Go GBM benchmark writes.

Usage: xgboost_compare.py TRAIN.csv TEST.csv [--rounds N] [--max-leaves L]
       [--max-depth D] [--lr ETA] [--min-child-weight W] [--lambda L]
       [--max-bin B] [--threads T]

Both CSV files have a header; the last column is the target, "nan" marks a
missing feature. Prints one JSON object: test RMSE and MAE, training and
prediction time. Needs the Debian package python3-xgboost (run it with
/usr/bin/python3).
"""
import argparse
import json
import time

import numpy as np
import xgboost as xgb


def load(path):
    data = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float64)
    return data[:, :-1], data[:, -1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--max-leaves", type=int, default=31)
    ap.add_argument("--max-depth", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--min-child-weight", type=float, default=20)
    ap.add_argument("--lambda", dest="lam", type=float, default=1.0)
    ap.add_argument("--max-bin", type=int, default=255)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    xtr, ytr = load(a.train)
    xte, yte = load(a.test)
    params = {
        "tree_method": "hist",
        "grow_policy": "lossguide",
        "max_leaves": a.max_leaves,
        "max_depth": a.max_depth,
        "eta": a.lr,
        "min_child_weight": a.min_child_weight,
        "lambda": a.lam,
        "alpha": 0.0,
        "gamma": 0.0,
        "max_bin": a.max_bin,
        "subsample": 1.0,
        "objective": "reg:squarederror",
        "base_score": float(np.mean(ytr)),
        "nthread": a.threads,
        "seed": 1,
    }
    # Matrix construction (quantile sketch) counts as training time, as
    # binning does on the Go side.
    t0 = time.perf_counter()
    dtr = xgb.DMatrix(xtr, label=ytr, missing=np.nan, nthread=a.threads)
    booster = xgb.train(params, dtr, num_boost_round=a.rounds)
    train_s = time.perf_counter() - t0
    dte = xgb.DMatrix(xte, missing=np.nan, nthread=a.threads)
    t0 = time.perf_counter()
    pred = booster.predict(dte)
    pred_s = time.perf_counter() - t0
    err = pred - yte
    print(json.dumps({
        "xgboost": xgb.__version__,
        "train_rows": int(xtr.shape[0]),
        "features": int(xtr.shape[1]),
        "rounds": a.rounds,
        "threads": a.threads,
        "train_seconds": train_s,
        "predict_us_per_row": 1e6 * pred_s / max(1, len(yte)),
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "mae": float(np.mean(np.abs(err))),
    }))


if __name__ == "__main__":
    main()
