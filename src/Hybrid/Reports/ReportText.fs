namespace Hybrid

open System
open System.Globalization
open System.Text
open System.Text.RegularExpressions

// The report as text: Markdown (golden-tested) and the trials as CSV.

[<RequireQualifiedAccess>]
module Markdown =

    let private lineBreaks = Regex(@"\r\n|\r|\n")

    /// Inline text, safe in a paragraph or a table cell: characters that Markdown or HTML would
    /// read as syntax are escaped, `<` `>` `&` become entities, and line breaks become spaces.
    let escape (text: string) =
        let out = StringBuilder(text.Length)

        for c in lineBreaks.Replace(text, " ") do
            match c with
            | '\\'
            | '|'
            | '*'
            | '_'
            | '`'
            | '['
            | ']'
            | '~' -> out.Append('\\').Append(c) |> ignore
            | '<' -> out.Append "&lt;" |> ignore
            | '>' -> out.Append "&gt;" |> ignore
            | '&' -> out.Append "&amp;" |> ignore
            | c -> out.Append c |> ignore

        out.ToString()

    /// Free text over several lines, each escaped; a leading `#` `-` `+` `=` cannot start a
    /// heading, a list or a rule, and blank lines keep separating paragraphs.
    let paragraphs (text: string) =
        lineBreaks.Split(text.Trim())
        |> Array.map (fun line ->
            let line = escape (line.Trim())

            if line.Length > 0 && "#-+=".Contains line[0] then "\\" + line else line)
        |> String.concat "\n"

    let private row (cells: string list) = "| " + String.concat " | " cells + " |"

    /// A table whose every cell is escaped.
    let table (header: string list, rows: string list list) =
        [
            yield row (List.map escape header)
            yield row (header |> List.map (fun _ -> "---"))
            for r in rows -> row (List.map escape r)
        ]
        |> String.concat "\n"

    /// The report's summary in Markdown.
    let render (input: ReportInput) : string =
        let standings = Leaderboard.rank input.Trials
        let failures = Leaderboard.failures input.Trials
        let text = StringBuilder()
        let line (s: string) = text.Append(s).Append('\n') |> ignore
        line (sprintf "# Sweep report: %s" (escape input.SweepName))
        line ""

        line (
            sprintf
                "Data: %s · %s · generated %s"
                (escape input.DataName)
                (ReportFormat.counts input.Trials)
                (ReportFormat.timestamp input.GeneratedUtc)
        )

        line ""

        if not (String.IsNullOrWhiteSpace input.Notes) then
            line "## Notes"
            line ""
            line (paragraphs input.Notes)
            line ""

        line "## Leaderboard"
        line ""
        line (escape ReportTables.leaderboardNote)
        line ""

        if standings.IsEmpty then
            line "No trial has completed."
        else
            line (table (ReportTables.leaderboard (Leaderboard.settings input.Trials) standings))

        line ""

        match standings with
        | best :: _ ->
            line "## Best configuration"
            line ""

            line (
                sprintf
                    "Configuration %s: %s."
                    (ReportFormat.configuration best.Configuration)
                    (escape (ReportFormat.settings best.Values))
            )

            line ""

            line (
                sprintf
                    "Validation accuracy %s; test accuracy %s."
                    (ReportFormat.percent best.ValidationAccuracy)
                    (ReportFormat.optional ReportFormat.percent best.TestAccuracy)
            )

            line ""
        | [] -> ()

        if SearchReport.applies input then
            line "## Adaptive search"
            line ""
            line (escape (SearchReport.summary input.Trials))
            line ""

            line (
                table (
                    SearchReport.fatesTable input.Trials
                    |> fun (header, rows) -> header, List.map snd rows
                )
            )

            line ""
            line (table (SearchReport.decisions input.Decisions))
            line ""

        line "## Failed and diverged trials"
        line ""

        if failures.IsEmpty then
            line "None."
        else
            line (table (ReportTables.failures failures))

        line ""
        line "## Verification"
        line ""

        if input.Verifications.IsEmpty then
            line "No trial was re-run for verification."
        else
            line (sprintf "Verified bit-identical: %s." (ReportFormat.verified input.Verifications))
            line ""
            line (table (ReportTables.verifications input.Verifications))

        line ""
        line "## Manifest"
        line ""
        line (table (ReportTables.manifest input.Manifest))
        text.ToString()

/// trials.csv: one row per trial, RFC 4180 (comma-separated, CRLF line ends, quotes doubled).
[<RequireQualifiedAccess>]
module TrialsCsv =

    let field (text: string) =
        if text.IndexOfAny [| ','; '"'; '\r'; '\n' |] >= 0 then
            "\"" + text.Replace("\"", "\"\"") + "\""
        else
            text

    let private row (fields: string list) = fields |> List.map field |> String.concat ","

    let render (trials: StoredTrial list) : string =
        let settings = Leaderboard.settings trials

        let header =
            [ "key"; "configuration"; "seed" ]
            @ List.map Setting.name settings
            @ [
                "status"
                "reason"
                "kept_epoch"
                "validation_accuracy"
                "validation_loss"
                "test_accuracy"
                "test_loss"
                "seconds"
            ]

        let line (t: StoredTrial) =
            [ t.Key; string t.Configuration; string t.Seed ]
            @ (settings |> List.map (fun setting -> ReportFormat.value setting t.Values))
            @ [
                TrialState.name t.State
                t.Reason
                t.KeptEpoch |> Option.map string |> Option.defaultValue ""
                ReportFormat.exact t.ValidationAccuracy
                ReportFormat.exact t.ValidationLoss
                ReportFormat.exact t.TestAccuracy
                ReportFormat.exact t.TestLoss
                ReportFormat.exact t.Seconds
            ]

        (row header
         :: (trials
             |> List.sortBy (fun t -> t.Configuration, t.Seed)
             |> List.map (line >> row)))
        |> List.map (fun r -> r + "\r\n")
        |> String.concat ""

/// The report's charts as Plotly.NET values.
