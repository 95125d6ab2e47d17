// The seed document's open question, as an experiment: does the skip from the input to the second
// hidden layer help, and which form? Dense vs diagonal vs no skip on iris, wine and digits, several
// seeds each, with 95% confidence intervals and Welch's t-test between every pair of kinds.
// Usage: dotnet fsi scripts/skip.fsx        (HYBRID_SMOKE=1: few seeds and epochs, for CI)
#load "_build.fsx"
#load "_load.fsx"

open System
open Hybrid

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"
let kinds = [ SkipKind.Dense; SkipKind.Diagonal; SkipKind.None ]
let fractions = { Train = 0.7; Validation = 0.15; Test = 0.15 }

let experiment (name: string) (dataset: Dataset) seeds =
    { Sweep.create ((if smoke then "skip-smoke-" else "skip-") + name) { Name = name; Split = dataset |> Dataset.split fractions 42UL } with
        Base = { Settings.defaults with Epochs = (if smoke then 3 else Settings.defaults.Epochs) }
        Space = [ Skip, skips kinds ]
        Strategy = Strategy.Grid 1
        Seeds = List.init seeds uint64
        Notes = "Dense vs diagonal vs no skip, everything else at the defaults." }

let experiments =
    [ experiment "iris" (Dataset.iris ()) (if smoke then 2 else 20)
      experiment "wine" (Dataset.wine ()) (if smoke then 2 else 20)
      experiment "digits" (Dataset.digits ()) (if smoke then 2 else 10) ]

/// Test accuracies of each skip kind's trials.
let accuracies (outcome: SweepOutcome) =
    kinds
    |> List.map (fun kind ->
        kind, outcome.Trials |> List.filter (fun t -> t.Values = [ (Skip, SkipValue kind) ]) |> List.choose _.TestAccuracy)

let rows =
    [ for sweep in experiments do
          let outcome = Sweep.run sweep
          yield sweep.Data.Name, accuracies outcome, outcome.Report.Markdown ]

printfn ""
printfn "Test accuracy by skip kind (mean ± 95%% CI over seeds; p: Welch's t-test, * below 0.05)"
printfn "%-8s %-26s %-26s %-26s %-12s %-12s %-12s" "data" "Dense" "Diagonal" "None" "p D–Dg" "p D–N" "p Dg–N"
for name, byKind, _ in rows do
    let summary kind = byKind |> List.find (fst >> (=) kind) |> snd
    let cell kind = ReportFormat.percent (Statistics.summarize (summary kind))
    let p a b =
        let xs, ys = summary a, summary b
        if xs.Length < 2 || ys.Length < 2 then "—"
        else
            let p = Statistics.welch xs ys
            sprintf "%.3f%s" p (if p < 0.05 then "*" else "")
    printfn "%-8s %-26s %-26s %-26s %-12s %-12s %-12s" name (cell SkipKind.Dense) (cell SkipKind.Diagonal) (cell SkipKind.None)
        (p SkipKind.Dense SkipKind.Diagonal) (p SkipKind.Dense SkipKind.None) (p SkipKind.Diagonal SkipKind.None)
printfn ""
for name, _, report in rows do
    printfn "%s: %s" name report
