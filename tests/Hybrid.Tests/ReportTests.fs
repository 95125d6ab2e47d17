module Hybrid.Tests.ReportTests

open System
open System.IO
open System.Text.RegularExpressions
open Expecto
open Hybrid
open Hybrid.Engine.Training

/// Strings that would run script if a report let them through unescaped.
let hostile = [ "<script>alert(1)</script>"; "\"><img src=x onerror=alert(1)>" ]

/// A realistic sweep's results, made up: five configurations × 3 seeds, one trial failed, one
/// diverged, one still pending. `text` is put in every user-supplied string.
let sample (text: string) : ReportInput =
    let values m skip rate = [ M, Int m; Skip, SkipValue skip; LearningRate, Float rate ]

    let configurations = [
        0, values 32 SkipKind.Dense 0.001, 0.90
        1, values 64 SkipKind.Dense 0.01, 0.955
        2, values 64 SkipKind.None 0.1, 0.93
        3, values 128 SkipKind.Diagonal 0.003, 0.945
        4, values 128 SkipKind.None 0.003, 0.94
    ]

    let history (level: float) (seed: uint64) (epochs: int) = [
        for e in 1..epochs ->
            let decay = exp (-0.35 * float e)

            EpochMetrics(
                e,
                0.15 + 1.9 * decay + 0.01 * float seed,
                level - 0.4 * decay,
                Nullable(0.2 + 1.8 * decay + 0.02 * float seed),
                Nullable(level - 0.45 * decay),
                0.01
            )
    ]

    let trial configuration values level (seed: uint64) =
        let accuracy = level + 0.01 * (float seed - 1.0) - 0.003 * float (seed * seed)

        {
            Key = sprintf "%02d%02d%s" configuration seed (String.replicate 60 "a")
            Configuration = configuration
            Seed = seed
            Settings =
                values
                |> List.fold (fun s (setting, value) -> Setting.apply setting value s) {
                    Settings.defaults with
                        Seed = seed
                }
            Values = values
            State = TrialState.Finished Completed
            Reason = ""
            Stop = Some StopReason.Completed
            KeptEpoch = Some 10
            ValidationAccuracy = Some accuracy
            ValidationLoss = Some(0.6 - accuracy / 2.0)
            TestAccuracy = Some(accuracy - 0.01)
            TestLoss = Some(0.62 - accuracy / 2.0)
            Seconds = Some(1.5 + float configuration)
            StartedUtc = None
            FinishedUtc = None
            Attempts = 1
            Worker = None
            DefinitionHash = ""
            History = history level seed 12
        }

    let trials = [
        for configuration, values, level in configurations do
            for seed in [ 0UL; 1UL; 2UL ] do
                let t = trial configuration values level seed

                match configuration, seed with
                | 2, 2UL -> {
                    t with
                        State = TrialState.Finished Diverged
                        Reason = "loss turned NaN at epoch 4"
                        ValidationAccuracy = None
                        ValidationLoss = None
                        TestAccuracy = None
                        TestLoss = None
                        History = List.truncate 3 t.History
                  }
                | 3, 1UL -> {
                    t with
                        State = TrialState.Finished Failed
                        Reason = "out of memory, \"batch\" too large\n" + text
                        ValidationAccuracy = None
                        ValidationLoss = None
                        TestAccuracy = None
                        TestLoss = None
                        Seconds = None
                        History = []
                  }
                | 4, 2UL -> {
                    t with
                        State = TrialState.Pending
                        KeptEpoch = None
                        ValidationAccuracy = None
                        ValidationLoss = None
                        TestAccuracy = None
                        TestLoss = None
                        Seconds = None
                        History = []
                  }
                | _ -> t
    ]

    {
        SweepName = "digits widths " + text
        Notes =
            "Widths and skips on digits.\n# not a heading\n- not a list\n*stars*, _under_, `ticks`, [link](x) | pipe & "
            + text
        DataName = "digits " + text
        ClassNames = [| "setosa"; "versicolor"; text |]
        Trials = trials
        Manifest = [
            "git commit", "56dd942 (clean)"
            "engine", "0.1.0"
            "dataset hash", text
            ".NET", "10.0.0"
        ]
        Confusion = Some(array2D [ [ 10; 0; 0 ]; [ 0; 9; 1 ]; [ 0; 2; 8 ] ])
        Verifications = [
            {
                Key = "0100" + String.replicate 60 "a"
                VerifiedUtc = DateTime(2025, 1, 2, 4, 0, 0, DateTimeKind.Utc)
                Identical = true
                Detail = "weights and metrics equal"
            }
            {
                Key = "0300" + String.replicate 60 "a"
                VerifiedUtc = DateTime(2025, 1, 2, 4, 1, 0, DateTimeKind.Utc)
                Identical = false
                Detail = "epoch 3 differs: " + text
            }
        ]
        Decisions = []
        GeneratedUtc = DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc)
    }

/// The sample as an adaptive search leaves it: configurations 0 and 4 pruned after 4 of their 12
/// epochs (the pending trial of #4 included), with the decisions that did it.
let searched (text: string) : ReportInput =
    let input = sample text

    let prune (t: StoredTrial) =
        if t.Configuration = 0 || t.Configuration = 4 then
            {
                t with
                    State = TrialState.Finished Pruned
                    History = List.truncate 4 t.History
                    TestAccuracy = Some nan
                    TestLoss = Some nan
            }
        else
            t

    {
        input with
            Trials = input.Trials |> List.map prune
            Decisions = [
                {
                    Batch = 0
                    Rung = -1
                    Detail = "batch 0 (rungs at 4, 12 epochs): random proposed #0, #1, #2, #3, #4"
                }
                {
                    Batch = 0
                    Rung = 0
                    Detail =
                        "batch 0, rung 0 (4 epochs): promoted #1 (0.95), #3 (0.94), #2 (0.93); pruned #4 (0.92), #0 (0.9)"
                }
            ]
    }

/// Each golden number is produced by golden/statistics.py, without MathNet.
let private statisticsTests =
    // Relative; the closed forms are exact, and often-quoted tables are off by 4e-11 (4.302652729911275).
    let quantileTolerance = 1e-12

    let close (tolerance: float) (actual: float) (expected: float) message =
        Expect.isLessThanOrEqual
            (abs (actual - expected))
            (tolerance * max 1.0 (abs expected))
            (sprintf "%s: %.17g vs %.17g" message actual expected)

    testList "statistics" [
        testCase "t quantile 0.975 with 2 dof"
        <| fun () -> close quantileTolerance (Statistics.tQuantile 0.975 2.0) 4.302652729749462 "t(0.975, 2)"
        testCase "t quantile 0.975 with 4 dof"
        <| fun () -> close quantileTolerance (Statistics.tQuantile 0.975 4.0) 2.776445105197793 "t(0.975, 4)"
        testCase "summary of three values"
        <| fun () ->
            let s = Statistics.summarize [ 0.90; 0.92; 0.94 ]
            Expect.equal s.N 3 "N"
            close 1e-15 s.Mean 0.92 "mean"
            close 1e-14 s.StdDev 0.02 "sample standard deviation"
            close quantileTolerance s.HalfWidth.Value (4.302652729749462 * 0.02 / sqrt 3.0) "half-width t·s/√n"
        testCase "one value has no interval"
        <| fun () ->
            let s = Statistics.summarize [ 0.5 ]
            Expect.equal (s.Mean, s.StdDev, s.N, s.HalfWidth) (0.5, 0.0, 1, None) "n=1"
            Expect.equal (ReportFormat.percent s) "50.00 % (n=1)" "shown as n=1"
        testCase "no values is an error"
        <| fun () -> Expect.throwsT<ArgumentException> (fun () -> Statistics.summarize [] |> ignore) "empty"
        testCase "Welch: Wikipedia's example 1 (t = -2.46, dof = 24.9)"
        <| fun () ->
            let a1 = [
                27.5
                21.0
                19.0
                23.6
                17.0
                17.9
                16.9
                20.1
                21.9
                22.6
                23.1
                19.6
                19.0
                21.7
                21.4
            ]

            let a2 = [
                27.1
                22.0
                20.8
                23.4
                23.4
                23.5
                25.8
                22.0
                24.8
                20.2
                21.9
                22.1
                22.9
                20.5
                24.4
            ]

            close 1e-9 (Statistics.welch a1 a2) 0.0213780014628621 "p"
            close 1e-9 (Statistics.welch a2 a1) 0.0213780014628621 "p is symmetric"
        testCase "Welch: unequal sizes and variances"
        <| fun () -> close 1e-9 (Statistics.welch [ 0.91; 0.93; 0.92 ] [ 0.88; 0.95; 0.80; 0.85 ]) 0.209190797887167 "p"
        testCase "Welch: samples without spread"
        <| fun () ->
            Expect.equal (Statistics.welch [ 1.0; 1.0 ] [ 1.0; 1.0 ]) 1.0 "equal means"
            Expect.equal (Statistics.welch [ 1.0; 1.0 ] [ 2.0; 2.0 ]) 0.0 "different means"
        testCase "Welch needs two values per sample"
        <| fun () ->
            Expect.throwsT<ArgumentException> (fun () -> Statistics.welch [ 1.0 ] [ 1.0; 2.0 ] |> ignore) "one value"
        testCase "Holm: the worked example, in the order given"
        <| fun () ->
            Statistics.holm [ 0.01; 0.04; 0.03; 0.005 ]
            |> List.iter2 (fun e a -> close 1e-15 a e "adjusted p") [ 0.03; 0.06; 0.06; 0.02 ]
        testCase "Holm: nine tests with a tie and a cap at 1"
        <| fun () ->
            let expected = [ 0.8; 0.008; 0.24; 0.24; 1.0; 0.084; 0.9; 0.0018; 1.0 ]

            Statistics.holm [ 0.2; 0.001; 0.04; 0.04; 0.5; 0.012; 0.3; 0.0002; 0.9 ]
            |> List.iter2 (fun e a -> close 1e-15 a e "adjusted p") expected
        testCase "Holm: one test is not adjusted, none gives none"
        <| fun () ->
            Expect.equal (Statistics.holm [ 0.03 ]) [ 0.03 ] "one"
            Expect.equal (Statistics.holm []) [] "none"
        testCase "comparisons: every pair of every row, corrected as one family"
        <| fun () ->
            let row label shift = {
                Label = label
                Groups = [
                    "A", [ 0.90; 0.91; 0.92 ]
                    "B", [ 0.93 + shift; 0.95 + shift; 0.94 + shift ]
                    "C", [ 0.80; 0.85; 0.83 ]
                ]
            }

            let tests = Comparisons.test [ row "iris" 0.0; row "wine" 0.01; row "digits" 0.02 ]

            Expect.equal
                (tests |> List.map (fun t -> t.Row, t.First, t.Second))
                [
                    for r in [ "iris"; "wine"; "digits" ] do
                        for a, b in [ "A", "B"; "A", "C"; "B", "C" ] -> r, a, b
                ]
                "9 pairs in order"

            Expect.equal (tests |> List.map _.Adjusted) (Statistics.holm (tests |> List.map _.P)) "Holm over all nine"
            Expect.equal tests.Head.P (Statistics.welch [ 0.90; 0.91; 0.92 ] [ 0.93; 0.95; 0.94 ]) "Welch's p"
        testCase "comparisons: a group with fewer than two values is not tested"
        <| fun () ->
            let tests =
                Comparisons.test [
                    { Label = "x"; Groups = [ "A", [ 0.9; 0.8 ]; "B", [ 0.7 ]; "C", [ 0.6; 0.5 ] ] }
                ]

            Expect.equal (tests |> List.map (fun t -> t.First, t.Second)) [ "A", "C" ] "only A–C"
    ]

let private searchTests =
    testList "adaptive search" [
        testCase "the budget curve adds each configuration's epochs and keeps the best completed so far"
        <| fun () ->
            let trials = (searched "x").Trials
            let points = SearchReport.budget trials
            // 3 seeds × 4 epochs for #0; #1 12 each; #2 12, 12 and the diverged seed's 3; #3 12, 0 (failed), 12; #4 4, 4, 0 (never ran)
            Expect.equal (points |> List.map fst) [ 12; 48; 75; 99; 107 ] "epochs spent after each configuration"
            let best = points |> List.map snd
            Expect.isTrue (Double.IsNaN best[0]) "nothing completed after #0 (pruned)"
            Expect.equal best[1] best[4] "#1 stays the best"
            Expect.equal best[1] (Ranking.best StoredTrial.rankEntry trials).Value.MeanValidation "the ranking's best"
        testCase "pruned configurations are marked, completed ones not"
        <| fun () ->
            let rows = SearchReport.fatesTable (searched "x").Trials |> snd
            Expect.equal (rows |> List.map fst) [ true; false; false; false; true ] "#0 and #4 pruned"
        testCase "a decision's exact scores read as percentages; its epochs and rungs stay as they are"
        <| fun () ->
            Expect.equal
                (SearchReport.readable
                    "batch 0, rung 1 (7 epochs): promoted #7 (0.8969444444444444), #2 (1); pruned #5 (0.889), #1 (NaN)")
                "batch 0, rung 1 (7 epochs): promoted #7 (89.69%), #2 (100.00%); pruned #5 (88.90%), #1 (NaN)"
                "a promotion"

            let proposal = "batch 2 (rungs at 2, 7, 20 epochs): TPE proposed #20, #21"
            Expect.equal (SearchReport.readable proposal) proposal "a proposal has no scores"
        testCase "the section appears only with decisions, in HTML and Markdown"
        <| fun () ->
            Expect.stringContains (ReportHtml.render (searched "x")) "Adaptive search" "HTML"
            Expect.stringContains (Markdown.render (searched "x")) "## Adaptive search" "Markdown"
            Expect.isFalse ((Markdown.render (sample "x")).Contains "Adaptive search") "not for a grid"
    ]

let private leaderboardTests =
    let standings = Leaderboard.rank (sample "x").Trials

    testList "leaderboard" [
        testCase "ranked by mean validation accuracy, completed trials only"
        <| fun () ->
            Expect.equal (standings |> List.map _.Configuration) [ 1; 3; 4; 2; 0 ] "order"
            Expect.equal (standings |> List.map _.ValidationAccuracy.N) [ 3; 2; 2; 2; 3 ] "seeds counted"
            Expect.equal (standings |> List.map _.Runs) [ 3; 3; 3; 3; 3 ] "runs"
        testCase "p-values against the leader, none for the leader"
        <| fun () ->
            Expect.isNone standings.Head.VersusLeader "leader"
            Expect.isTrue (standings.Tail |> List.forall (fun s -> s.VersusLeader.IsSome)) "others"
        testCase "every state has its own name, read back as itself"
        <| fun () ->
            Expect.equal
                (TrialState.all |> List.map TrialState.name)
                [ "completed"; "pruned"; "diverged"; "failed"; "paused"; "running"; "pending" ]
                "names"

            Expect.equal
                (TrialState.all |> List.map (TrialState.name >> TrialState.ofName))
                (List.map Some TrialState.all)
                "read back"
        testCase "failures listed with their reasons"
        <| fun () ->
            let failures = Leaderboard.failures (sample "x").Trials

            Expect.equal
                (failures |> List.map (fun t -> t.Configuration, t.State))
                [ 2, TrialState.Finished Diverged; 3, TrialState.Finished Failed ]
                "failures"
    ]

/// Lines removed from the expected text (-) and added in the actual one (+), with two lines of
/// context, from a longest common subsequence of lines.
let lineDiff (expected: string) (actual: string) =
    let a, b = expected.Split '\n', actual.Split '\n'
    let lcs = Array2D.zeroCreate (a.Length + 1) (b.Length + 1)

    for i in a.Length - 1 .. -1 .. 0 do
        for j in b.Length - 1 .. -1 .. 0 do
            lcs[i, j] <- if a[i] = b[j] then lcs[i + 1, j + 1] + 1 else max lcs[i + 1, j] lcs[i, j + 1]

    let rec walk i j acc =
        if i < a.Length && j < b.Length && a[i] = b[j] then
            walk (i + 1) (j + 1) ((' ', a[i]) :: acc)
        elif i < a.Length && (j = b.Length || lcs[i + 1, j] >= lcs[i, j + 1]) then
            walk (i + 1) j (('-', a[i]) :: acc)
        elif j < b.Length then
            walk i (j + 1) (('+', b[j]) :: acc)
        else
            List.rev acc

    let lines = walk 0 0 [] |> Array.ofList

    let changed =
        lines
        |> Array.mapi (fun k (tag, _) -> k, tag <> ' ')
        |> Array.filter snd
        |> Array.map fst

    lines
    |> Array.mapi (fun k (tag, text) -> k, sprintf "%c %s" tag text)
    |> Array.filter (fun (k, _) -> changed |> Array.exists (fun c -> abs (c - k) <= 2))
    |> Array.map snd
    |> String.concat "\n"

/// Golden file of report.md. After an intended change, regenerate it with
/// `HYBRID_UPDATE_GOLDEN=1 dotnet run --project tests/Hybrid.Tests -- --filter "Hybrid.report.markdown.golden file"`
/// and review the file's diff before committing it.
let private goldenPath = Path.Combine(__SOURCE_DIRECTORY__, "golden", "report.md")

let private goldenTests =
    testList "markdown" [
        testCase "golden file"
        <| fun () ->
            let actual = Markdown.render (sample "<b>bold</b>")

            if Environment.GetEnvironmentVariable "HYBRID_UPDATE_GOLDEN" = "1" then
                File.WriteAllText(goldenPath, actual)

            let expected = File.ReadAllText goldenPath

            if actual <> expected then
                failtestf
                    "report.md differs from %s (set HYBRID_UPDATE_GOLDEN=1 to regenerate):\n%s"
                    goldenPath
                    (lineDiff expected actual)
        testCase "escaping of Markdown syntax"
        <| fun () ->
            Expect.equal (Markdown.escape "a|b*c_d`e[f]g~h\\i") "a\\|b\\*c\\_d\\`e\\[f\\]g\\~h\\\\i" "syntax"
            Expect.equal (Markdown.escape "<b> & </b>") "&lt;b&gt; &amp; &lt;/b&gt;" "HTML"
            Expect.equal (Markdown.escape "one\r\ntwo\nthree") "one two three" "line breaks in a cell"
            Expect.equal (Markdown.paragraphs "# title\n- item\nplain") "\\# title\n\\- item\nplain" "line starts"
    ]

/// Every character LaTeX reads as syntax, and one beyond pdflatex's fonts.
let latexHostile = "_ % & # $ { } ~ ^ \\ < > | \u4E2D"

/// Golden file of report.tex, regenerated like report.md's.
let private latexGoldenPath =
    Path.Combine(__SOURCE_DIRECTORY__, "golden", "report.tex")

let private skipComparison (text: string) = [
    {
        Label = "iris " + text
        Groups = [
            "Dense", [ 0.95; 0.97; 0.96 ]
            text, [ 0.93; 0.96; 0.94 ]
            "None", [ 0.90; 0.92; 0.91 ]
        ]
    }
    {
        Label = "wine"
        Groups = [ "Dense", [ 0.98; 0.97; 0.99 ]; text, [ 0.97; 0.96 ]; "None", [ 0.94 ] ]
    }
]

/// Compiles a LaTeX document with pdflatex (Debian's texlive-latex-base; CI installs it) in a
/// scratch folder: no shell escape, stop at the first error; returns the log.
let private pdflatex (tex: string) =
    let folder =
        Path.Combine(Path.GetTempPath(), "hybrid-latex-" + Guid.NewGuid().ToString "N")

    Directory.CreateDirectory folder |> ignore

    try
        File.WriteAllText(Path.Combine(folder, "report.tex"), tex)

        let info =
            Diagnostics.ProcessStartInfo(
                "pdflatex",
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = folder
            )

        [
            "-no-shell-escape"
            "-interaction=nonstopmode"
            "-halt-on-error"
            "report.tex"
        ]
        |> List.iter info.ArgumentList.Add

        use latex = Diagnostics.Process.Start info |> nonNull
        let output = latex.StandardOutput.ReadToEndAsync()
        latex.StandardError.ReadToEnd() |> ignore
        latex.WaitForExit()
        let log = File.ReadAllText(Path.Combine(folder, "report.log"))

        if latex.ExitCode <> 0 then
            failtestf "pdflatex exited with %d:\n%s" latex.ExitCode output.Result

        Expect.isTrue (File.Exists(Path.Combine(folder, "report.pdf"))) "a PDF"
        log
    finally
        Directory.Delete(folder, true)

let private withPdflatex (body: unit -> unit) =
    let found =
        (Environment.GetEnvironmentVariable "PATH" |> nonNull).Split ':'
        |> Array.exists (fun d -> File.Exists(Path.Combine(d, "pdflatex")))

    if found then
        body ()
    elif Environment.GetEnvironmentVariable "CI" = "true" then
        failtest "pdflatex is missing, but CI installs texlive-latex-base: report.tex cannot be compiled"
    else
        skiptest
            "pdflatex is not available (CI installs texlive-latex-base and texlive-latex-recommended); compiling report.tex skipped"

let private latexTests =
    testList "latex" [
        testCase "golden file"
        <| fun () ->
            let actual = LatexReport.render (sample latexHostile)

            if Environment.GetEnvironmentVariable "HYBRID_UPDATE_GOLDEN" = "1" then
                File.WriteAllText(latexGoldenPath, actual)

            let expected = File.ReadAllText latexGoldenPath

            if actual <> expected then
                failtestf
                    "report.tex differs from %s (set HYBRID_UPDATE_GOLDEN=1 to regenerate):\n%s"
                    latexGoldenPath
                    (lineDiff expected actual)
        testCase "escaping of LaTeX's special characters"
        <| fun () ->
            Expect.equal
                (Latex.escape latexHostile)
                @"\_ \% \& \# \$ \{ \} \textasciitilde{} \textasciicircum{} \textbackslash{} \textless{} \textgreater{} \textbar{} \texttt{[U+4E2D]}"
                "specials"

            Expect.equal (Latex.escape "Zürich\r\nline") "Zürich  line" "Latin-1 kept, line breaks become spaces"
        testCase "the leaderboard's p-values are Holm-adjusted and the caption says so"
        <| fun () ->
            let standings = Leaderboard.rank (sample "x").Trials
            let raw = standings |> List.choose _.VersusLeader
            let table = LatexTables.leaderboard [ M ] standings
            Expect.stringContains table "Holm--Bonferroni" "caption names the correction"

            Expect.stringContains
                table
                (sprintf "adjusted for the %d comparisons" raw.Length)
                "caption counts the comparisons"

            for p in Statistics.holm raw do
                Expect.stringContains table (Latex.pValue p) "an adjusted p-value"
        testCase "the comparison table holds every group and pair, corrected over the table"
        <| fun () ->
            let table =
                LatexTables.comparison "Test accuracy by skip kind" (skipComparison "Diagonal")

            Expect.stringContains
                table
                "& Dense & Diagonal & None & $p$ Dense--Diagonal & $p$ Dense--None & $p$ Diagonal--None"
                "header"

            Expect.stringContains
                table
                "adjusted for the 4 comparisons in this table by the Holm--Bonferroni method"
                "caption"

            Expect.stringContains table "$96.00 \\pm 2.48$ (3)" "mean ± interval (n)"
            Expect.stringContains table "$94.00$ (1) & " "one seed: no interval"
        testCase "pdflatex compiles a sweep's report.tex with hostile names"
        <| fun () ->
            withPdflatex (fun () ->
                let log = pdflatex (LatexReport.render (sample latexHostile))
                Expect.isFalse (log.Contains "Missing character") "every character printed")
        testCase "pdflatex compiles a comparison's report.tex with hostile names"
        <| fun () ->
            withPdflatex (fun () ->
                let log =
                    pdflatex (
                        LatexReport.comparison ("skip " + latexHostile) latexHostile (skipComparison latexHostile)
                    )

                Expect.isFalse (log.Contains "Missing character") "every character printed")
    ]

let private csvTests =
    testList "csv" [
        testCase "RFC 4180 quoting"
        <| fun () ->
            Expect.equal (TrialsCsv.field "plain") "plain" "plain"
            Expect.equal (TrialsCsv.field "a,b") "\"a,b\"" "comma"
            Expect.equal (TrialsCsv.field "say \"hi\"") "\"say \"\"hi\"\"\"" "quotes doubled"
            Expect.equal (TrialsCsv.field "two\nlines") "\"two\nlines\"" "line break"
        testCase "one row per trial, every setting a column"
        <| fun () ->
            let csv = TrialsCsv.render (sample "x,\"y\"").Trials
            let lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries)

            Expect.equal
                lines[0]
                "key,configuration,seed,M,skip,learning rate,status,reason,kept_epoch,validation_accuracy,validation_loss,test_accuracy,test_loss,seconds"
                "header"

            Expect.stringStarts
                lines[1]
                ("0000" + String.replicate 60 "a" + ",0,0,32,Dense,0.001,completed,,10,0.89,")
                "first row"

            Expect.stringContains
                csv
                ",failed,\"out of memory, \"\"batch\"\" too large\nx,\"\"y\"\"\",10,,,,,\r\n"
                "a quoted reason over two lines"

            Expect.stringContains csv "4,2,128,None,0.003,pending,,,,,,,\r\n" "a pending trial, no kept epoch"
            Expect.equal (lines |> Array.filter (fun l -> l.StartsWith "0")).Length 15 "15 trials"
    ]

/// The HTML without the embedded plotly.js, whose own source holds URL strings it never fetches.
let withoutPlotly (html: string) =
    let plotly = ReportHtml.plotlyJs.Value
    let at = html.IndexOf(plotly, StringComparison.Ordinal)
    Expect.isGreaterThanOrEqual at 0 "plotly.js is embedded"
    Expect.equal (html.IndexOf(plotly, at + plotly.Length, StringComparison.Ordinal)) -1 "plotly.js is embedded once"
    html.Remove(at, plotly.Length)

let private escapingTests =
    testList "escaping" [
        for text in hostile do
            let input = sample text

            testCase (sprintf "HTML shows %s as text" text)
            <| fun () ->
                let html = ReportHtml.render input |> withoutPlotly
                Expect.isFalse (html.Contains text) "no unescaped occurrence"

                Expect.isFalse
                    (Regex.IsMatch(html, "<img|<script>alert", RegexOptions.IgnoreCase))
                    "no injected element"

                Expect.stringContains html (ReportHtml.encode text) "shown encoded"
                // Inside the charts' JSON, `<` is \u003c so no string can close the script element.
                let json =
                    Regex.Matches(html, "var f = (.*?); Plotly\\.newPlot")
                    |> Seq.map _.Groups[1].Value
                    |> List.ofSeq

                Expect.hasLength json 6 "six charts"
                Expect.isFalse (json |> List.exists (fun j -> j.Contains '<')) "no '<' in chart JSON"

                Expect.isTrue
                    (json |> List.exists (fun j -> j.Contains "\\u0026lt;"))
                    "labels are HTML-encoded, then JSON-escaped"

            testCase (sprintf "Markdown shows %s as text" text)
            <| fun () ->
                let markdown = Markdown.render input
                Expect.isFalse (markdown.Contains text) "no unescaped occurrence"
                Expect.isFalse (Regex.IsMatch(markdown, "<img|<script", RegexOptions.IgnoreCase)) "no raw HTML"
        testCase "chart labels show markup as text"
        <| fun () ->
            Expect.equal
                (ReportCharts.label "<a href=x>&amp;</a>")
                "&lt;a href=x&gt;&amp;amp;&lt;/a&gt;"
                "encoded for plotly.js"

            Expect.equal (ReportCharts.label (String.replicate 30 "x")) (String.replicate 27 "x" + "…") "cut"
        testCase "JSON in a script element cannot end it"
        <| fun () ->
            Expect.equal
                (ReportHtml.scriptJson "{\"a\":\"</script><!--&\u2028\"}")
                "{\"a\":\"\\u003c/script\\u003e\\u003c!--\\u0026\\u2028\"}"
                "escaped"
        testCase "the HTML fetches nothing"
        <| fun () ->
            let html = ReportHtml.render (sample "x") |> withoutPlotly
            Expect.isFalse (Regex.IsMatch(html, "<script[^>]*\\ssrc\\s*=", RegexOptions.IgnoreCase)) "no <script src=>"

            Expect.isFalse
                (Regex.IsMatch(html, "<link[^>]*href\\s*=\\s*\"(?!data:)", RegexOptions.IgnoreCase))
                "no <link href=> but data:"

            Expect.isFalse
                (Regex.IsMatch(
                    html,
                    "\\s(src|href|srcset|poster|action|formaction|background)\\s*=\\s*[\"']?\\s*(https?:)?//",
                    RegexOptions.IgnoreCase
                ))
                "no fetchable attribute"

            Expect.isFalse
                (Regex.IsMatch(html, "https?://|url\\(", RegexOptions.IgnoreCase))
                "no URL outside plotly.js at all"

            Expect.stringContains
                html
                "Content-Security-Policy\" content=\"default-src 'none'"
                "a CSP that forbids fetching"
    ]

let private writeTests =
    testList "write" [
        testCase "writes the four files and leaves no temporary file"
        <| fun () ->
            let directory =
                Path.Combine(Path.GetTempPath(), "hybrid-report-" + Guid.NewGuid().ToString "N")

            try
                let paths = Report.write directory (sample "x")
                let again = Report.write directory (sample "y")
                Expect.equal again paths "same paths"

                Expect.equal
                    (Directory.GetFiles directory |> Array.map Path.GetFileName |> Array.sort)
                    [| "report.html"; "report.md"; "report.tex"; "trials.csv" |]
                    "files"

                Expect.stringContains (File.ReadAllText paths.Markdown) "digits widths y" "overwritten"
            finally
                if Directory.Exists directory then
                    Directory.Delete(directory, true)
    ]

let tests =
    testList "report" [
        statisticsTests
        leaderboardTests
        searchTests
        goldenTests
        latexTests
        csvTests
        escapingTests
        writeTests
    ]
