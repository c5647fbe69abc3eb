#!/usr/bin/env python3
"""
pandas/numpy reference implementation of the DEFAULT feature set (61 columns), for benchmarking
only: bench/features-vs-pandas.ts times it next to lib/features/compute-features.ts. Nothing in the
pipeline imports or runs this file.

    /usr/bin/python3 bench/reference/features_pandas.py <csv-folder> [--out features.csv]

Definitions follow lib/features/{symbol-features,compute-features}.ts and lib/features/indicators/*
(windows, seeds, ddof, thresholds, NaN/zero guards). Prints one JSON line:
    {"symbols", "rows", "columns", "load_seconds", "compute_seconds", "peak_rss_mib"}
where rows counts feature rows after each symbol's warm-up (the rows the TS frames hold).

Layout: every indicator runs once over a "bar panel", a DataFrame whose columns are symbols and
whose rows are the bar number since each symbol's first bar (shorter histories are NaN-padded at
the end). Rolling and EWM windows then count a symbol's own bars, exactly as the per-symbol TS loops
do (a calendar-date index would put gaps inside the windows), and each indicator is one vectorised
call for the whole universe. Market features and the cross-sectional rank need calendar alignment,
so for those the panel is scattered into a (date x symbol) frame.

Known deviations (all at rounding level):
- pandas rolling mean/sum (Kahan running sums), rolling std (Welford) and rolling corr (moment
  formula) round differently from the TS loops (plain running sum; two-pass around x[i]). On the
  S&P 500 2013-2018 set every column agrees with the TS output within 1e-10 absolute except
  mkt_breadth_50: on 4 dates one symbol's close equals its 50-day mean in decimal, and the two
  SMAs round to opposite sides of it (c > sma50 flips, breadth moves by 1/N on those dates).
  Guards that test an exact zero (flat windows) could likewise differ; none occur in that set.
- ewm(adjust=False) evaluates (w*(1-a) + a*x) / ((1-a) + a) instead of prev + a*(x - prev).
- dispersion uses DataFrame.std(ddof=0) instead of sqrt(E[r^2] - E[r]^2).
- Quality gate: field, price, OHLC, volume and duplicate rules as lib/quality/rules.ts; the NYSE
  holiday calendar is not reproduced (weekends only).
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view


def peak_rss_mib():
    """VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork + exec."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

FIELDS = ["open", "high", "low", "close", "volume"]
MIN_BARS = 254  # requiredBars(DEFAULT): range_position / new_highs_lows 252 + 1 warm-up + 1
MAX_PRICE, MAX_VOLUME = 1e7, 1e14  # csv-reader.ts: beyond these a field is corrupt
CANDLES = [
    "doji", "hammer", "hanging_man", "inverted_hammer", "shooting_star",
    "bullish_engulfing", "bearish_engulfing", "bullish_harami", "bearish_harami",
    "piercing_line", "dark_cloud_cover", "morning_star", "evening_star",
    "three_white_soldiers", "three_black_crows",
]
SQRT_252 = np.sqrt(252)


# ---------------------------------------------------------------------------------------------
# (a) Load and clean
# ---------------------------------------------------------------------------------------------

def load_bars(folder):
    """All CSVs as one long frame (Name, date, OHLCV), with the rows the project's quality gate
    rejects removed, sorted by symbol and date; symbols too short for the feature set dropped."""
    paths = sorted(glob.glob(os.path.join(folder, "*.csv")))
    if not paths:
        sys.exit(f"no CSV files in {folder}")
    df = pd.concat((pd.read_csv(p, dtype={"date": str, "Name": str}) for p in paths), ignore_index=True)

    # Field rules: non-numeric text becomes NaN here, and then goes with the missing ones.
    for f in FIELDS:
        df[f] = pd.to_numeric(df[f], errors="coerce")
    df["Name"] = df["Name"].str.strip().str.upper()
    when = pd.to_datetime(df["date"], format="%Y-%m-%d", errors="coerce")
    o, h, l, c, v = (df[f] for f in FIELDS)
    ok = (
        df[FIELDS].notna().all(axis=1) & df["Name"].notna() & (df["Name"] != "") & when.notna()
        & (when.dt.dayofweek < 5)                                  # non_trading_day (weekends only)
        & (df[["open", "high", "low", "close"]].abs() <= MAX_PRICE).all(axis=1) & (v.abs() <= MAX_VOLUME)
        & (df[["open", "high", "low", "close"]] > 0).all(axis=1)   # non_positive_price
        & (h >= np.maximum(o, c)) & (l <= np.minimum(o, c)) & (h >= l)  # ohlc_inconsistent
        & (v >= 0)                                                 # negative_volume
    )
    df = df.loc[ok, ["Name", "date"] + FIELDS]
    # duplicate_date: exact copies keep the first row, conflicting copies are all rejected.
    df = df.drop_duplicates()
    df = df[~df.duplicated(["Name", "date"], keep=False)]

    df = df.sort_values(["Name", "date"], kind="stable", ignore_index=True)
    df = df[df.groupby("Name")["date"].transform("size") >= MIN_BARS].reset_index(drop=True)
    return df


# ---------------------------------------------------------------------------------------------
# Building blocks with the TS semantics
# ---------------------------------------------------------------------------------------------

def seeded_ewm(x, window, alpha, start=0):
    """rolling.ts smoothed(): the recursion starts at row start+window-1 from the SMA of rows
    start..start+window-1. ewm(adjust=False) starts from its first non-NaN value, so blank the rows
    before the seed and put the SMA there. (The panel is bar-aligned: `start` is the same row for
    every symbol.)"""
    seed_row = start + window - 1
    y = x.copy()
    y.iloc[seed_row] = x.iloc[start:seed_row + 1].mean()
    y.iloc[:seed_row] = np.nan
    return y.ewm(alpha=alpha, adjust=False).mean()


def ema(x, window, start=0):
    return seeded_ewm(x, window, 2 / (window + 1), start)


def wilder(x, window, start):
    return seeded_ewm(x, window, 1 / window, start)


def where(cond, a, b, like):
    """np.where that keeps the panel's labels."""
    return pd.DataFrame(np.where(cond, a, b), index=like.index, columns=like.columns)


def nan_before(x, row):
    """Blank rows < row (TS loops that start at a fixed index leave those NaN)."""
    x = x.copy()
    x.iloc[:row] = np.nan
    return x


def true_range(h, l, c):
    pc = c.shift(1)
    return np.maximum(np.maximum(h - l, (h - pc).abs()), (l - pc).abs())  # NaN on the first bar


def donchian(h, l, c, window):
    """+1 above the PRIOR window's high, -1 below its low (patterns.ts donchianBreakout)."""
    hh = h.rolling(window).max().shift(1)
    ll = l.rolling(window).min().shift(1)
    return where(c > hh, 1.0, np.where(c < ll, -1.0, 0.0), c).where(hh.notna())


def volume_trend(line, v, window):
    """symbol-features.ts trend(): change of a cumulative line over the window per traded volume."""
    traded = v.rolling(window).sum()
    return nan_before(where(traded > 0, (line - line.shift(window)) / traded, 0.0, line), window)


# ---------------------------------------------------------------------------------------------
# (b) Features
# ---------------------------------------------------------------------------------------------

def symbol_features(o, h, l, c, v):
    """The 55 per-symbol columns (plus ret_20 again for the rank), in DEFAULT_FEATURE_SET order."""
    f = {}
    for hz in (1, 5, 10, 20):
        f[f"ret_{hz}"] = c / c.shift(hz) - 1
    for w in (5, 10, 20, 50, 200):
        f[f"sma_ratio_{w}"] = c / c.rolling(w).mean() - 1
    for w in (12, 26, 50):
        f[f"ema_ratio_{w}"] = c / ema(c, w) - 1

    # RSI: Wilder averages of gains/losses seeded on bars 1..14; a flat window is 50.
    d = c.diff()
    ag = wilder(d.clip(lower=0), 14, start=1)
    al = wilder((-d).clip(lower=0), 14, start=1)
    f["rsi_14"] = where(al == 0, np.where(ag == 0, 50.0, 100.0), 100 - 100 / (1 + ag / al), c).where(ag.notna())

    # MACD 12/26/9; the signal EMA is seeded from the first 9 defined line values (row 25 on).
    line = ema(c, 12) - ema(c, 26)
    signal = ema(line, 9, start=25)
    f["macd_line_12_26_9"] = line / c
    f["macd_signal_12_26_9"] = signal / c
    f["macd_hist_12_26_9"] = (line - signal) / c

    # Bollinger 20, k=2, population std; zero width -> %B 0.5.
    mid = c.rolling(20).mean()
    sd = c.rolling(20).std(ddof=0)
    upper, lower = mid + 2 * sd, mid - 2 * sd
    width = upper - lower
    f["bb_pctb_20"] = where(width > 0, (c - lower) / width, np.where(width == 0, 0.5, np.nan), c)
    f["bb_bandwidth_20"] = width / mid

    tr = true_range(h, l, c)
    atr = wilder(tr, 14, start=1)
    f["atr_pct_14"] = atr / c

    # ADX: Wilder sums of TR, +DM, -DM from bar 1; DX from bar 14; ADX seeded on DX rows 14..27.
    up, down = h.diff(), -l.diff()
    pdm = where((up > down) & (up > 0), up, 0.0, c)
    mdm = where((down > up) & (down > 0), down, 0.0, c)
    s_tr, s_p, s_m = wilder(tr, 14, 1), wilder(pdm, 14, 1), wilder(mdm, 14, 1)
    plus_di = where(s_tr > 0, 100 * s_p / s_tr, 0.0, c)
    minus_di = where(s_tr > 0, 100 * s_m / s_tr, 0.0, c)
    di_sum = plus_di + minus_di
    dx = nan_before(where(di_sum > 0, 100 * (plus_di - minus_di).abs() / di_sum, 0.0, c), 14)
    f["adx_14"] = wilder(dx, 14, start=14)

    hh14, ll14 = h.rolling(14).max(), l.rolling(14).min()
    rng14 = hh14 - ll14
    k = where(rng14 > 0, 100 * (c - ll14) / rng14, 50.0, c).where(hh14.notna())
    f["stoch_k_14"] = k
    f["stoch_d_14_3"] = k.rolling(3).mean()

    # CCI: mean absolute deviation needs the whole window, so use a strided window view. As in
    # indicators.ts, deviations are taken from the current typical price, so a flat window gives an
    # exact zero deviation (-> 0) rather than a rounding residue.
    tp = (h + l + c) / 3
    tpa = tp.to_numpy()
    win = sliding_window_view(tpa, 20, axis=0) - tpa[19:, :, None]   # (rows-19, symbols, 20) copy
    m = win.mean(axis=-1)
    win -= m[..., None]                                                # in place: one 3-D temporary
    dev = np.abs(win, out=win).mean(axis=-1)
    cci = np.full_like(tpa, np.nan)
    cci[19:] = np.where(dev > 0, -m / (0.015 * dev), 0.0)
    cci[19:][np.isnan(dev)] = np.nan
    f["cci_20"] = pd.DataFrame(cci, index=c.index, columns=c.columns)
    del win

    f["williams_r_14"] = where(rng14 > 0, -100 * (hh14 - c) / rng14, -50.0, c).where(hh14.notna())
    prev10 = c.shift(10)
    f["roc_10"] = 100 * (c - prev10) / prev10

    # MFI: positive/negative money flow summed over 14 bars; no flow at all -> 50.
    prev_tp = tp.shift(1)
    flow = tp * v
    pos = where(tp > prev_tp, flow, 0.0, c).where(prev_tp.notna())
    neg = where(tp < prev_tp, flow, 0.0, c).where(prev_tp.notna())
    sp, sn = pos.rolling(14).sum(), neg.rolling(14).sum()
    f["mfi_14"] = where(sn == 0, np.where(sp == 0, 50.0, 100.0), 100 - 100 / (1 + sp / sn), c).where(sp.notna())

    logret = np.log(c / c.shift(1))
    for w in (20, 60):
        f[f"realized_vol_{w}"] = logret.rolling(w).std(ddof=1) * SQRT_252  # first value at row w

    f.update(candles(o, h, l, c))
    f["gap_pct"] = o / c.shift(1) - 1
    breakout20 = donchian(h, l, c, 20)
    f["donchian_breakout_20"] = breakout20
    f["donchian_breakout_55"] = donchian(h, l, c, 55)
    f["dist_high_252"] = c / h.rolling(252).max() - 1
    f["dist_low_252"] = c / l.rolling(252).min() - 1

    vol_sma20 = v.rolling(20).mean()
    confirmed = (breakout20 != 0) & (v >= 1.5 * vol_sma20.shift(1))  # against the PRIOR average
    f["volume_breakout_20"] = where(confirmed, breakout20, 0.0, c).where(breakout20.notna())
    f["relative_volume_20"] = v / vol_sma20
    vol_sd20 = v.rolling(20).std(ddof=1)
    f["volume_zscore_20"] = where(vol_sd20 > 0, (v - vol_sma20) / vol_sd20, 0.0, c).where(vol_sma20.notna())

    obv = (np.sign(c.diff()) * v).fillna(0).cumsum()          # 0 on the first bar
    f["obv_trend_20"] = volume_trend(obv, v, 20)
    hl = h - l
    mfm = where(hl > 0, (c - l - (h - c)) / hl, 0.0, c)
    f["ad_trend_20"] = volume_trend((mfm * v).cumsum(), v, 20)

    dlogv = np.log((v + 1) / (v.shift(1) + 1))
    f["price_volume_corr_20"] = logret.rolling(20).corr(dlogv)

    vwap = (tp * v).rolling(20).sum() / v.rolling(20).sum()
    f["vwap_distance_20"] = c / vwap - 1
    return f


def candles(o, h, l, c):
    """patterns.ts candlePatterns: 0/1 per bar; trend context = close[i-1] - close[i-5]."""
    body = (c - o).abs()
    rng = h - l
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    upper_sh, lower_sh = h - top, bottom - l
    trend = (c.shift(1) - c.shift(5)).fillna(0)
    hammer_shape = (body > 0) & (lower_sh >= 2 * body) & (upper_sh <= 0.1 * rng)
    star_shape = (body > 0) & (upper_sh >= 2 * body) & (lower_sh <= 0.1 * rng)

    # Previous (p) and second previous (q) bars; comparisons with the NaN shifts are False, so the
    # first one or two bars get 0, as the TS loop's `continue` does.
    op, hp, lp, cp, bp, rp = (x.shift(1) for x in (o, h, l, c, body, rng))
    oq, cq, bq, rq = (x.shift(2) for x in (o, c, body, rng))
    up_i, down_i = c > o, c < o
    up_p, down_p = cp > op, cp < op
    up_q, down_q = cq > oq, cq < oq
    mid_p, mid_q = (op + cp) / 2, (oq + cq) / 2
    small_middle = bp <= 0.3 * bq
    strong = (bq >= 0.6 * rq) & (bp >= 0.6 * rp) & (body >= 0.6 * rng)

    pats = {
        "doji": (rng > 0) & (body <= 0.1 * rng),
        "hammer": hammer_shape & (trend < 0),
        "hanging_man": hammer_shape & (trend > 0),
        "inverted_hammer": star_shape & (trend < 0),
        "shooting_star": star_shape & (trend > 0),
        "bullish_engulfing": down_p & up_i & (o <= cp) & (c >= op) & (body > bp),
        "bearish_engulfing": up_p & down_i & (o >= cp) & (c <= op) & (body > bp),
        "bullish_harami": down_p & up_i & (o > cp) & (c < op),
        "bearish_harami": up_p & down_i & (o < cp) & (c > op),
        "piercing_line": down_p & up_i & (o < lp) & (c > mid_p) & (c < op),
        "dark_cloud_cover": up_p & down_i & (o > hp) & (c < mid_p) & (c > op),
        "morning_star": down_q & small_middle & (np.maximum(op, cp) < cq) & up_i & (c > mid_q),
        "evening_star": up_q & small_middle & (np.minimum(op, cp) > cq) & down_i & (c < mid_q),
        "three_white_soldiers": strong & up_q & up_p & up_i & (cp > cq) & (c > cp) & (op > oq) & (op < cq) & (o > op) & (o < cp),
        "three_black_crows": strong & down_q & down_p & down_i & (cp < cq) & (c < cp) & (op < oq) & (op > cq) & (o < op) & (o > cp),
    }
    assert list(pats) == CANDLES
    return {f"cdl_{name}": p.astype(float) for name, p in pats.items()}


def market_features(c, date_pos, n_dates):
    """compute-features.ts computeMarketColumns: one value per calendar date (a Series indexed by
    date position) from every kept symbol's bar on that date. Per-symbol 0/1/-1 series are computed
    on the bar panel, then scattered into a (date x symbol) frame through date_pos and averaged
    over the defined values, like the TS share()."""
    valid = date_pos >= 0
    rows, cols = np.nonzero(valid)

    def by_date(panel):
        wide = np.full((n_dates, panel.shape[1]), np.nan)
        wide[date_pos[rows, cols], cols] = np.asarray(panel)[rows, cols]
        return pd.DataFrame(wide)

    sma50 = c.rolling(50).mean()
    breadth = (c > sma50).astype(float).where(sma50.notna())
    advance = np.sign(c - c.shift(1))
    hi, lo = c.rolling(252).max(), c.rolling(252).min()
    highs_lows = where(c >= hi, 1.0, np.where(c <= lo, -1.0, 0.0), c).where(hi.notna())
    daily = by_date(c / c.shift(1) - 1)

    mean_ret = daily.mean(axis=1)
    vol = np.log(1 + mean_ret).rolling(20).std(ddof=1) * SQRT_252
    vol.iloc[:20] = np.nan
    counts = daily.count(axis=1)
    return {
        "mkt_breadth_50": by_date(breadth).mean(axis=1),           # share of symbols above SMA50
        "mkt_advance_decline": by_date(advance).mean(axis=1),
        "mkt_new_highs_lows_252": by_date(highs_lows).mean(axis=1),
        "mkt_dispersion": daily.std(axis=1, ddof=0).where(counts > 1),
        "mkt_volatility_20": vol,
    }


def compute(bars):
    """All 61 columns; returns (columns, symbol/date frame of the rows after warm-up, values)."""
    # Bar panel: row = bar number within the symbol, column = symbol (NaN-padded at the end).
    sym, names = pd.factorize(bars["Name"], sort=True)
    bar_no = bars.groupby("Name").cumcount().to_numpy()
    lengths = np.bincount(sym)
    shape = (lengths.max(), len(names))

    def panel(values, fill=np.nan, dtype=float):
        out = np.full(shape, fill, dtype=dtype)
        out[bar_no, sym] = values
        return out

    o, h, l, c, v = (pd.DataFrame(panel(bars[f].to_numpy(float)), columns=names) for f in FIELDS)
    date_code, all_dates = pd.factorize(bars["date"], sort=True)  # ISO strings sort as dates
    date_pos = panel(date_code, -1, np.int64)
    valid = date_pos >= 0

    with np.errstate(all="ignore"):
        feats = symbol_features(o, h, l, c, v)
        # Market series back onto each symbol's bars.
        for name, series in market_features(c, date_pos, len(all_dates)).items():
            aligned = series.to_numpy()[date_pos]
            aligned[~valid] = np.nan
            feats[name] = aligned

        # Warm-up: a symbol's rows start after the longest leading non-finite run of any column.
        first = np.zeros(shape[1], dtype=np.int64)
        for x in feats.values():
            fin = np.isfinite(np.asarray(x))
            lead = np.where(fin.any(axis=0), fin.argmax(axis=0), shape[0])
            np.maximum(first, lead, out=first)
        keep = valid & (np.arange(shape[0])[:, None] >= first[None, :])

        # ret_20_rank: average rank among the symbols on the same date, over kept rows only,
        # scaled to 0..1 as (rank - 1) / (n - 1); a lone value gets 0.5.
        r20 = np.where(keep, np.asarray(feats["ret_20"]), np.nan)
        wide = np.full((len(all_dates), shape[1]), np.nan)
        kr, kc = np.nonzero(keep)
        wide[date_pos[kr, kc], kc] = r20[kr, kc]
        wide = pd.DataFrame(wide)
        n = wide.count(axis=1).to_numpy()[:, None]
        pct = np.where(n > 1, (wide.rank(axis=1, method="average").to_numpy() - 1) / (n - 1), 0.5)
        rank = np.full(shape, np.nan)
        rank[kr, kc] = pct[date_pos[kr, kc], kc]

    # Column order as featureColumns(DEFAULT): the rank sits between the symbol and market columns.
    columns = [k for k in feats if not k.startswith("mkt_")] + ["ret_20_rank"] + [k for k in feats if k.startswith("mkt_")]
    feats["ret_20_rank"] = rank
    assert len(columns) == 61, len(columns)

    # Feature rows, symbol by symbol then by date (transpose so nonzero walks symbols first).
    kc, kr = np.nonzero(keep.T)
    values = np.empty((len(kr), len(columns)))
    for j, name in enumerate(columns):
        values[:, j] = np.asarray(feats[name])[kr, kc]
    index = pd.DataFrame({"symbol": np.asarray(names)[kc], "date": np.asarray(all_dates)[date_pos[kr, kc]]})
    return columns, index, values


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="folder of CSV files: date,open,high,low,close,volume,Name")
    ap.add_argument("--out", help="write the feature rows (symbol, date, 61 columns) to this CSV")
    args = ap.parse_args()

    t0 = time.perf_counter()
    bars = load_bars(args.folder)
    t1 = time.perf_counter()
    columns, index, values = compute(bars)
    t2 = time.perf_counter()
    report = {
        "symbols": int(bars["Name"].nunique()),
        "rows": int(len(index)),
        "columns": len(columns),
        "load_seconds": round(t1 - t0, 4),
        "compute_seconds": round(t2 - t1, 4),
        # Taken before the optional CSV dump, whose formatting buffers are not part of the benchmark.
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    if args.out:
        out = pd.concat([index, pd.DataFrame(values, columns=columns)], axis=1)
        out.to_csv(args.out, index=False)  # floats as repr: round-trips exactly for comparisons
    print(json.dumps(report))


if __name__ == "__main__":
    main()
