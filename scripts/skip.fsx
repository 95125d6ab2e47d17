// The seed document's open question, as an experiment: does the skip from the input to the second
// hidden layer help, and which form? Dense vs diagonal vs no skip on iris, wine and digits, several
// seeds each, with 95% confidence intervals and Welch's t-test between every pair of kinds, its
// p-values adjusted by Holm–Bonferroni over all 9 comparisons; the table also as LaTeX (runs/skip/report.tex).
// Usage: dotnet fsi scripts/skip.fsx        (HYBRID_SMOKE=1: few seeds and epochs, for CI)
#load "_build.fsx"
#load "_load.fsx"

open System
open Hybrid

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"
let kinds = [ SkipKind.Dense; SkipKind.Diagonal; SkipKind.None ]

let fractions = { Train = 0.7; Validation = 0.15; Test = 0.15 }

let experiment (name: string) (dataset: Dataset) seeds = {
    Sweep.create ((if smoke then "skip-smoke-" else "skip-") + name) {
        Name = name
        Split = dataset |> Dataset.split fractions 42UL
    } with
        Base = {
            Settings.defaults with
                Epochs = (if smoke then 3 else Settings.defaults.Epochs)
        }
        Space = [ (Skip, skips kinds) ]
        Strategy = Strategy.Grid 1
        Seeds = List.init seeds uint64
        Notes = "Dense vs diagonal vs no skip, everything else at the defaults."
}

let experiments = [
    experiment "iris" (Dataset.iris ()) (if smoke then 2 else 20)
    experiment "wine" (Dataset.wine ()) (if smoke then 2 else 20)
    experiment "digits" (Dataset.digits ()) (if smoke then 2 else 10)
]

/// One row of the comparison: the test accuracies of each skip kind's trials on one data set.
let comparisonRow (name: string) (outcome: SweepOutcome) : ComparisonRow = {
    Label = name
    Groups =
        kinds
        |> List.map (fun kind ->
            string kind,
            outcome.Trials
            |> List.filter (fun t -> t.Values = List.singleton (Skip, SkipValue kind))
            |> List.choose _.TestAccuracy)
}

let rows = [
    for sweep in experiments do
        let outcome = Sweep.run sweep
        yield comparisonRow sweep.Data.Name outcome, outcome.Report.Markdown
]

let comparison = List.map fst rows
let tests = Comparisons.test comparison

let tex =
    IO.Path.Combine(runsRoot (), (if smoke then "skip-smoke" else "skip"), "report.tex")

Report.writeComparison tex "Dense vs diagonal vs no skip" "Test accuracy by skip kind" comparison

printfn ""

printfn
    "Test accuracy by skip kind (mean ± 95%% CI over seeds; p: Welch's t-test, Holm–Bonferroni-adjusted over the %d comparisons, * below 0.05)"
    tests.Length

printfn "%-8s %-26s %-26s %-26s %-12s %-12s %-12s" "data" "Dense" "Diagonal" "None" "p D–Dg" "p D–N" "p Dg–N"

for row in comparison do
    let cell kind =
        ReportFormat.percent (Statistics.summarize (snd (row.Groups |> List.find (fst >> (=) (string kind)))))

    let p (a: SkipKind) (b: SkipKind) =
        match
            tests
            |> List.tryFind (fun t -> t.Row = row.Label && t.First = string a && t.Second = string b)
        with
        | None -> "—"
        | Some t -> sprintf "%.3f%s" t.Adjusted (if t.Adjusted < 0.05 then "*" else "")

    printfn
        "%-8s %-26s %-26s %-26s %-12s %-12s %-12s"
        row.Label
        (cell SkipKind.Dense)
        (cell SkipKind.Diagonal)
        (cell SkipKind.None)
        (p SkipKind.Dense SkipKind.Diagonal)
        (p SkipKind.Dense SkipKind.None)
        (p SkipKind.Diagonal SkipKind.None)

printfn ""

for row, report in rows do
    printfn "%s: %s" row.Label report

printfn "LaTeX table: %s" tex
