namespace Hybrid

open System
open System.Globalization
open System.Text

// The report as LaTeX for a paper: booktabs tables in a document that compiles on its own with
// pdflatex, each table ready to copy into a manuscript.

[<RequireQualifiedAccess>]
module Latex =

    /// Text, safe anywhere in a LaTeX paragraph or table cell: the ten special characters are
    /// printed as themselves, `<` `>` `|` get their text commands (T1 would print them, OT1 not),
    /// line breaks become spaces, and characters beyond Latin-1, which pdflatex's fonts lack,
    /// are shown by their code point.
    let escape (text: string) =
        let out = StringBuilder(text.Length)

        for rune in text.EnumerateRunes() do
            match rune.Value with
            | 0x5C -> out.Append @"\textbackslash{}" |> ignore
            | 0x7E -> out.Append @"\textasciitilde{}" |> ignore
            | 0x5E -> out.Append @"\textasciicircum{}" |> ignore
            | 0x3C -> out.Append @"\textless{}" |> ignore
            | 0x3E -> out.Append @"\textgreater{}" |> ignore
            | 0x7C -> out.Append @"\textbar{}" |> ignore
            | c when "&%$#_{}".Contains(char c) -> out.Append('\\').Append(char c) |> ignore
            | 0x0D
            | 0x0A
            | 0x09 -> out.Append ' ' |> ignore
            | c when (c >= 0x20 && c < 0x7F) || (c >= 0xA0 && c <= 0xFF) -> out.Append(rune.ToString()) |> ignore
            | c -> out.Append(sprintf @"\texttt{[U+%04X]}" c) |> ignore

        out.ToString()

    let private fixed2 (x: float) = x.ToString("F2", CultureInfo.InvariantCulture)

    /// "$95.33 \pm 1.20$" for a fraction shown in percent, "$95.33$" where there is no interval.
    let percent (s: Summary) =
        match s.HalfWidth with
        | Some h -> sprintf @"$%s \pm %s$" (fixed2 (100.0 * s.Mean)) (fixed2 (100.0 * h))
        | None -> sprintf "$%s$" (fixed2 (100.0 * s.Mean))

    let optional (format: 'a -> string) (value: 'a option) = value |> Option.map format |> Option.defaultValue "---"

    /// Three decimals, "$<0.001$" below that, with a star where the difference is significant at 5%.
    let pValue (p: float) =
        let shown =
            if p < 0.001 then "<0.001" else p.ToString("F3", CultureInfo.InvariantCulture)

        sprintf "$%s%s$" shown (if p < 0.05 then "^{*}" else "")

    /// A booktabs table environment; header and cells are LaTeX already (escape user text first).
    let table (caption: string) (label: string) (alignment: string) (header: string list) (rows: string list list) =
        let line (cells: string list) = String.concat " & " cells + @" \\"

        [
            @"\begin{table}[htbp]"
            @"\centering"
            @"\small"
            sprintf @"\caption{%s}" caption
            sprintf @"\label{%s}" label
            sprintf @"\begin{tabular}{%s}" alignment
            @"\toprule"
            line header
            @"\midrule"
            yield! rows |> List.map line
            @"\bottomrule"
            @"\end{tabular}"
            @"\end{table}"
        ]
        |> String.concat "\n"

    /// A whole document around `body`, with only what Debian's texlive-latex-recommended has.
    let document (title: string) (body: string) =
        [
            @"\documentclass{article}"
            @"\usepackage[T1]{fontenc}"
            @"\usepackage[utf8]{inputenc}"
            @"\usepackage[margin=2cm]{geometry}"
            @"\usepackage{booktabs}"
            @"\begin{document}"
            sprintf @"\section*{%s}" title
            body
            @"\end{document}"
            ""
        ]
        |> String.concat "\n"

/// The tables of report.tex: the leaderboard, and comparisons of groups such as skip kinds.
[<RequireQualifiedAccess>]
module LatexTables =

    /// At most this many configurations in a paper's leaderboard; the caption says when there are more.
    let leaderboardRows = 20

    let private pValuesVersusLeader (standings: Standing list) =
        let tested =
            standings
            |> List.choose (fun s -> s.VersusLeader |> Option.map (fun p -> s.Configuration, p))

        List.zip (List.map fst tested) (Statistics.holm (List.map snd tested))
        |> Map.ofList

    let private leaderboardCaption shown total tests =
        sprintf
            "%s configurations ranked by mean validation accuracy. Accuracies in \\%%: mean $\\pm$ half-width of the 95\\%% confidence interval (Student $t$) over the $n$ completed seeds. $p$: two-sided Welch $t$-test of validation accuracy against the first configuration, adjusted for the %d comparisons by the Holm--Bonferroni method; $^{*}$ below 0.05."
            (if shown < total then
                 sprintf "The %d best of %d" shown total
             else
                 sprintf "All %d" total)
            tests

    /// The leaderboard's best configurations with their settings, accuracies and adjusted p-values.
    let leaderboard (settings: Setting list) (standings: Standing list) =
        let adjusted = pValuesVersusLeader standings
        let shown = List.truncate leaderboardRows standings

        let header =
            [ "Rank"; "Config." ]
            @ (settings |> List.map (Setting.name >> Latex.escape))
            @ [ "Validation acc."; "Test acc."; "$n$"; "$p$ vs.\\ 1" ]

        let rows =
            shown
            |> List.mapi (fun i s ->
                [ string (i + 1); Latex.escape (ReportFormat.configuration s.Configuration) ]
                @ (settings
                   |> List.map (fun setting -> Latex.escape (ReportFormat.value setting s.Values)))
                @ [
                    Latex.percent s.ValidationAccuracy
                    Latex.optional Latex.percent s.TestAccuracy
                    string s.ValidationAccuracy.N
                    Latex.optional Latex.pValue (adjusted.TryFind s.Configuration)
                ])

        let alignment = "rl" + String.replicate settings.Length "l" + "rrrr"

        Latex.table
            (leaderboardCaption shown.Length standings.Length adjusted.Count)
            "tab:leaderboard"
            alignment
            header
            rows

    /// One row per comparison row: each group's mean ± interval (n), then the Holm-adjusted
    /// p-value of every pair of groups. `what` names the figure, e.g. "Test accuracy by skip kind".
    let comparison (what: string) (rows: ComparisonRow list) =
        let groups = rows |> List.collect (fun r -> List.map fst r.Groups) |> List.distinct
        let pairs = Comparisons.pairs groups
        let tests = Comparisons.test rows

        let adjusted row (first, second) =
            tests
            |> List.tryFind (fun t -> t.Row = row && t.First = first && t.Second = second)
            |> Option.map _.Adjusted

        let cell (row: ComparisonRow) group =
            match row.Groups |> List.tryFind (fst >> (=) group) with
            | Some(_, values) when not values.IsEmpty ->
                let s = Statistics.summarize values
                sprintf "%s (%d)" (Latex.percent s) s.N
            | _ -> "---"

        let header =
            [ "" ]
            @ (groups |> List.map Latex.escape)
            @ (pairs
               |> List.map (fun (a, b) -> sprintf "$p$ %s--%s" (Latex.escape a) (Latex.escape b)))

        let body =
            rows
            |> List.map (fun r ->
                [ Latex.escape r.Label ]
                @ (groups |> List.map (cell r))
                @ (pairs |> List.map (adjusted r.Label >> Latex.optional Latex.pValue)))

        let caption =
            sprintf
                "%s, in \\%%: mean $\\pm$ half-width of the 95\\%% confidence interval (Student $t$), with the number of seeds. $p$: two-sided Welch $t$-test between each pair, adjusted for the %d comparisons in this table by the Holm--Bonferroni method; $^{*}$ below 0.05."
                (Latex.escape what)
                tests.Length

        Latex.table caption "tab:comparison" ("l" + String.replicate (groups.Length + pairs.Length) "r") header body

[<RequireQualifiedAccess>]
module LatexReport =

    /// A sweep's report.tex: what was run, and the leaderboard.
    let render (input: ReportInput) : string =
        let standings = Leaderboard.rank input.Trials

        let summary =
            sprintf
                "Data: %s. %s. Generated %s."
                (Latex.escape input.DataName)
                (Latex.escape (ReportFormat.counts input.Trials))
                (ReportFormat.timestamp input.GeneratedUtc)

        let leaderboard =
            if standings.IsEmpty then
                "No trial has completed."
            else
                LatexTables.leaderboard (Leaderboard.settings input.Trials) standings

        Latex.document (sprintf "Sweep report: %s" (Latex.escape input.SweepName)) (summary + "\n\n" + leaderboard)

    /// A comparison's report.tex (see LatexTables.comparison).
    let comparison (title: string) (what: string) (rows: ComparisonRow list) : string =
        Latex.document (Latex.escape title) (LatexTables.comparison what rows)
