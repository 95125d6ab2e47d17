namespace Hybrid

/// One row of a comparison: each group's values, e.g. the test accuracies of each skip kind's
/// seeds (the groups) on one data set (the row).
type ComparisonRow = { Label: string; Groups: (string * float list) list }

/// Welch's test of one pair of groups on one row; `Adjusted` is its p-value corrected by
/// Holm–Bonferroni over every pair of every row of the comparison.
type PairTest = { Row: string; First: string; Second: string; P: float; Adjusted: float }

[<RequireQualifiedAccess>]
module Comparisons =

    /// Every pair of groups, in the order of the groups.
    let pairs (groups: 'a list) = [
        for i, a in List.indexed groups do
            for b in List.skip (i + 1) groups -> a, b
    ]

    /// Tests every pair of groups on every row where both have at least two values. The family of
    /// the correction is the whole comparison: a table of 3 data sets × 3 pairs makes 9 tests.
    let test (rows: ComparisonRow list) : PairTest list =
        let raw = [
            for row in rows do
                for (first, xs), (second, ys) in pairs row.Groups do
                    if xs.Length >= 2 && ys.Length >= 2 then
                        yield row.Label, first, second, Statistics.welch xs ys
        ]

        let adjusted = raw |> List.map (fun (_, _, _, p) -> p) |> Statistics.holm

        List.map2
            (fun (row, first, second, p) adjusted -> {
                Row = row
                First = first
                Second = second
                P = p
                Adjusted = adjusted
            })
            raw
            adjusted
