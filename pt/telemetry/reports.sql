-- pt duck: the standard questions, as DuckDB table macros over the lake's views
-- (runs, system_samples, proc_samples, proc_features, proc_inference, decisions,
-- actions, outcomes). `pt duck REPORT` calls these; they work in ad hoc SQL too:
--     pt duck --sql "FROM pt_top(5)"
-- Statements are separated by lines holding only ';'.

-- Every run, newest first: when, what mode, how many processes, how many verdicts
-- other than keep, and which priors, policy and redaction policy were in force.
CREATE OR REPLACE MACRO pt_runs(n := 20) AS TABLE
    WITH acting AS (
        SELECT run_id, count(*) FILTER (WHERE action <> 'keep') AS acting,
               count(*) FILTER (WHERE action = 'kill') AS kill
        FROM decisions GROUP BY run_id)
    SELECT r.run_id, strftime(to_timestamp(r.ts), '%Y-%m-%d %H:%M:%S') AS at_utc, r.mode, r.n_procs,
           round(r.scan_s, 3) AS scan_s, coalesce(a.acting, 0) AS acting, coalesce(a.kill, 0) AS kill,
           r.priors_digest, r.policy_digest, r.redaction_version, r.key_id
    FROM runs r LEFT JOIN acting a USING (run_id)
    ORDER BY r.ts DESC, r.run_id DESC
    LIMIT n
;
-- The decision behind one process: the latest (or run p_run's) decision row
-- joined with its inference row (every log-likelihood term, posterior, Bayes
-- factors, lfdr). p_start and p_boot narrow pid to one process identity.
CREATE OR REPLACE MACRO pt_why(p_pid, p_start := NULL, p_boot := NULL, p_run := NULL) AS TABLE
    SELECT d.*, i.* EXCLUDE (run_id, ts, boot_id, pid, start_ticks, log_odds, lfdr, date)
    FROM (SELECT * FROM decisions
          WHERE pid = p_pid
            AND (p_start IS NULL OR start_ticks = p_start)
            AND (p_boot IS NULL OR boot_id = p_boot)
            AND (p_run IS NULL OR run_id = p_run)
          ORDER BY ts DESC, run_id DESC
          LIMIT 1) d
    JOIN proc_inference i USING (run_id, pid, start_ticks)
;
-- The same ledger in long form: one row per evidence feature, the
-- log-likelihood under each class and the Bayes factor in bits.
CREATE OR REPLACE MACRO pt_ledger(p_run, p_pid, p_start) AS TABLE
    WITH one AS (
        SELECT * FROM proc_inference WHERE run_id = p_run AND pid = p_pid AND start_ticks = p_start),
    terms AS (
        UNPIVOT (SELECT COLUMNS('^ll__.*') FROM one) ON COLUMNS(*) INTO NAME term VALUE ll)
    SELECT split_part(term, '__', 2) AS feature,
           max(ll) FILTER (WHERE split_part(term, '__', 3) = 'useful') AS ll_useful,
           max(ll) FILTER (WHERE split_part(term, '__', 3) = 'useful_bad') AS ll_useful_bad,
           max(ll) FILTER (WHERE split_part(term, '__', 3) = 'abandoned') AS ll_abandoned,
           max(ll) FILTER (WHERE split_part(term, '__', 3) = 'zombie') AS ll_zombie,
           (ll_abandoned - ll_useful) / ln(2) AS bits
    FROM terms GROUP BY feature ORDER BY abs(bits) DESC, feature
;
-- The commands pt most often recommended acting on: per executable, command
-- category and command hash, how many verdicts, runs and distinct processes.
CREATE OR REPLACE MACRO pt_top(n := 20, since_days := NULL) AS TABLE
    SELECT exe, command_category, cmd_hash, action,
           count(*) AS verdicts, count(DISTINCT run_id) AS runs,
           count(DISTINCT (boot_id, start_ticks, pid)) AS processes,
           round(avg(p_class), 4) AS mean_p_class,
           strftime(to_timestamp(min(ts)), '%Y-%m-%d %H:%M') AS first_utc,
           strftime(to_timestamp(max(ts)), '%Y-%m-%d %H:%M') AS last_utc
    FROM decisions
    WHERE action <> 'keep' AND (since_days IS NULL OR ts >= epoch(now()) - since_days * 86400.0)
    GROUP BY ALL
    ORDER BY verdicts DESC, exe, cmd_hash, action
    LIMIT n
;
-- Calibration: each outcome joined (as of its time) with the latest decision
-- about the same process identity. A labelled outcome (a later scan saw it
-- resume or idle past the horizon, pt feedback, a confirmation in pt apply)
-- says 1 for abandoned or zombie, 0 for useful or useful_bad; a journal
-- outcome says 1 = acted on and the action took (done or exited), 0 = the user
-- chose keep; other outcomes are not labels. Predicted = 1 - lfdr =
-- P(not useful | x), in `bins` equal bins. (`pt calibrate` keeps one label
-- per process; this report counts every outcome.)
CREATE OR REPLACE MACRO pt_calibration(bins := 10) AS TABLE
    WITH labelled AS (
        SELECT 1 - d.lfdr AS predicted,
               CASE WHEN o.label IS NOT NULL THEN CAST(o.label IN ('abandoned', 'zombie') AS DOUBLE)
                    WHEN coalesce(o.observed_by, 'journal') <> 'journal' THEN NULL
                    WHEN o.action = 'keep' THEN 0.0
                    WHEN o.result IN ('done', 'exited') THEN 1.0 END AS observed
        FROM outcomes o ASOF JOIN decisions d
          ON o.boot_id = d.boot_id AND o.pid = d.pid AND o.start_ticks = d.start_ticks
         AND o.ts >= d.ts)
    SELECT least(floor(predicted * bins), bins - 1)::INTEGER AS bin,
           round(least(floor(predicted * bins), bins - 1) / bins, 4) AS bin_low,
           count(*) AS n, round(avg(predicted), 4) AS predicted, round(avg(observed), 4) AS observed,
           round(avg((predicted - observed) ^ 2), 4) AS brier
    FROM labelled WHERE observed IS NOT NULL
    GROUP BY ALL ORDER BY bin
;
-- Actions taken (journal intents) with their outcomes, newest first.
CREATE OR REPLACE MACRO pt_actions(n := 50) AS TABLE
    SELECT strftime(to_timestamp(a.ts), '%Y-%m-%d %H:%M:%S') AS at_utc, a.plan_id, a.action_id,
           a.pid, a.action, a.params, o.result, o.detail, o.exit_status,
           round(o.ts - a.ts, 3) AS took_s
    FROM actions a LEFT JOIN outcomes o ON o.action_id = a.action_id
    ORDER BY a.ts DESC, a.action_id
    LIMIT n
;
