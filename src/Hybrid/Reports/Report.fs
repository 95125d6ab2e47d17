namespace Hybrid

open System
open System.Globalization
open System.IO
open System.Net
open System.Text
open Plotly.NET

// The report as one offline HTML file, and writing all of a sweep's report files.

[<RequireQualifiedAccess>]
module ReportHtml =

    let encode (text: string) =
        match WebUtility.HtmlEncode text with
        | null -> ""
        | encoded -> encoded

    /// plotly.js as Plotly.NET ships it inside its own assembly, so the report needs no network.
    let plotlyJs =
        lazy
            (let name = sprintf "Plotly.NET.plotly-%s.min.js" Globals.PLOTLYJS_VERSION

             match typeof<GenericChart>.Assembly.GetManifestResourceStream name with
             | null ->
                 failwithf "Plotly.NET no longer ships plotly.js as the resource '%s'; the report cannot embed it" name
             | stream ->
                 use reader = new StreamReader(stream)
                 let source = reader.ReadToEnd()

                 if source.Contains("</script", StringComparison.OrdinalIgnoreCase) then
                     failwith "plotly.js contains '</script' and cannot be inlined"

                 source)

    /// JSON that stays data inside a <script> element: no `</script>` or `<!--` can end or change it.
    let scriptJson (json: string) =
        json
            .Replace("<", "\\u003c")
            .Replace(">", "\\u003e")
            .Replace("&", "\\u0026")
            .Replace("\u2028", "\\u2028")
            .Replace("\u2029", "\\u2029")

    let private chart (id: string) (figure: GenericChart) =
        sprintf
            "<div class=\"chart\" id=\"%s\"></div>\n<script>(function () { var f = %s; Plotly.newPlot(\"%s\", f.data, f.layout, { responsive: true, displaylogo: false }); })();</script>\n"
            id
            (scriptJson (GenericChart.toFigureJson figure))
            id

    let private table (kind: string) (header: string list, rows: string list list) =
        let cells tag (values: string list) =
            values
            |> List.map (fun v -> sprintf "<%s>%s</%s>" tag (encode v) tag)
            |> String.concat ""

        let body =
            rows
            |> List.map (fun r -> "<tr>" + cells "td" r + "</tr>")
            |> String.concat "\n"

        sprintf
            "<table class=\"%s\">\n<thead><tr>%s</tr></thead>\n<tbody>\n%s\n</tbody>\n</table>\n"
            kind
            (cells "th" header)
            body

    /// A table whose flagged rows are greyed (pruned configurations).
    let private greyedTable (kind: string) (header: string list, rows: (bool * string list) list) =
        let cells tag (values: string list) =
            values
            |> List.map (fun v -> sprintf "<%s>%s</%s>" tag (encode v) tag)
            |> String.concat ""

        let body =
            rows
            |> List.map (fun (grey, r) -> (if grey then "<tr class=\"pruned\">" else "<tr>") + cells "td" r + "</tr>")
            |> String.concat "\n"

        sprintf
            "<table class=\"%s\">\n<thead><tr>%s</tr></thead>\n<tbody>\n%s\n</tbody>\n</table>\n"
            kind
            (cells "th" header)
            body

    /// The report's style sheet; the live dashboard serves it too.
    let style =
        """body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2430; background: #fafbfc; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.7em; margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #d8dee4; padding-bottom: 4px; }
.meta { color: #57606a; } .notes { white-space: pre-wrap; background: #fff; border-left: 4px solid #d8dee4; padding: 8px 12px; }
table { border-collapse: collapse; margin: 12px 0; background: #fff; font-size: 0.92em; }
th, td { border: 1px solid #d8dee4; padding: 4px 8px; text-align: left; vertical-align: top; } th { background: #f0f3f6; }
td { font-variant-numeric: tabular-nums; } .leaderboard td:nth-last-child(-n+6) { white-space: nowrap; }
table.leaderboard { display: block; overflow: auto; max-width: 100%; max-height: 36em; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { background: #fff; border: 1px solid #d8dee4; margin: 12px 0; }
tr.pruned td { color: #8c959f; background: #f6f8fa; }"""

    /// The whole page; user strings are HTML-encoded in markup and in the charts' JSON.
    let render (input: ReportInput) : string =
        let standings = Leaderboard.rank input.Trials
        let settings = Leaderboard.settings input.Trials
        let failures = Leaderboard.failures input.Trials
        let html = StringBuilder()
        let add (s: string) = html.Append(s).Append('\n') |> ignore
        add "<!DOCTYPE html>"
        add "<html lang=\"en\">"
        add "<head>"
        add "<meta charset=\"utf-8\">"
        // Defence in depth: even markup that slipped through escaping could fetch nothing from anywhere.
        // plotly.js draws parallel coordinates with regl, which generates code with `Function`: hence 'unsafe-eval'.
        add
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:\">"

        add "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        add (sprintf "<title>Sweep report: %s</title>" (encode input.SweepName))
        add "<link rel=\"icon\" href=\"data:,\">"
        add (sprintf "<style>\n%s\n</style>" style)
        add (sprintf "<script>\n%s\n</script>" plotlyJs.Value)
        add "</head>"
        add "<body>"
        add "<main>"
        add (sprintf "<h1>Sweep report: %s</h1>" (encode input.SweepName))

        add (
            sprintf
                "<p class=\"meta\">Data: %s · %s · generated %s</p>"
                (encode input.DataName)
                (encode (ReportFormat.counts input.Trials))
                (ReportFormat.timestamp input.GeneratedUtc)
        )

        if not (String.IsNullOrWhiteSpace input.Notes) then
            add (sprintf "<h2>Notes</h2>\n<p class=\"notes\">%s</p>" (encode (input.Notes.Trim())))

        add "<h2>Leaderboard</h2>"
        add (sprintf "<p>%s</p>" (encode ReportTables.leaderboardNote))

        if standings.IsEmpty then
            add "<p>No trial has completed.</p>"
        else
            add (table "leaderboard" (ReportTables.leaderboard settings standings))

        match standings with
        | best :: _ ->
            add "<h2>Best configuration</h2>"

            add (
                sprintf
                    "<p>Configuration %s: %s.<br>Validation accuracy %s; test accuracy %s.</p>"
                    (ReportFormat.configuration best.Configuration)
                    (encode (ReportFormat.settings best.Values))
                    (ReportFormat.percent best.ValidationAccuracy)
                    (ReportFormat.optional ReportFormat.percent best.TestAccuracy)
            )

            add "<h2>Learning curves</h2>"
            add (chart "chart-learning" (ReportCharts.learningCurves standings))

            if not settings.IsEmpty then
                add "<h2>Settings vs validation accuracy</h2>"
                add (chart "chart-parallel" (ReportCharts.parallelCoordinates settings standings))
                add "<div class=\"grid\">"

                settings
                |> List.iteri (fun i setting ->
                    add (chart (sprintf "chart-setting-%d" i) (ReportCharts.setting setting standings)))

                add "</div>"
        | [] -> ()

        if SearchReport.applies input then
            add "<h2>Adaptive search</h2>"
            add (sprintf "<p>%s Pruned configurations are grey.</p>" (encode (SearchReport.summary input.Trials)))
            add (chart "chart-budget" (SearchReport.budgetChart input.Trials))
            add (chart "chart-proposals" (SearchReport.proposalsChart input.Trials))
            add "<h3>Configurations</h3>"
            add (greyedTable "configurations" (SearchReport.fatesTable input.Trials))
            add "<h3>Decisions</h3>"
            add (table "decisions" (SearchReport.decisions input.Decisions))

        add "<h2>Confusion matrix</h2>"

        match input.Confusion with
        | Some matrix -> add (chart "chart-confusion" (ReportCharts.confusion input.ClassNames matrix))
        | None -> add "<p>No confusion matrix was recorded.</p>"

        add "<h2>Failed and diverged trials</h2>"

        if failures.IsEmpty then
            add "<p>None.</p>"
        else
            add (table "failures" (ReportTables.failures failures))

        add "<h2>Verification</h2>"

        if input.Verifications.IsEmpty then
            add "<p>No trial was re-run for verification.</p>"
        else
            add (sprintf "<p>Verified bit-identical: %s.</p>" (ReportFormat.verified input.Verifications))
            add (table "verifications" (ReportTables.verifications input.Verifications))

        add "<h2>Manifest</h2>"
        add (table "manifest" (ReportTables.manifest input.Manifest))
        add "</main>"
        add "</body>"
        add "</html>"
        html.ToString()

[<RequireQualifiedAccess>]
module Report =

    /// Writes beside the target and renames over it, so a reader never sees half a file.
    let private writeAtomically (path: string) (text: string) =
        let bytes = UTF8Encoding(false).GetBytes text
        Files.writeAtomically path (fun stream -> stream.Write(bytes, 0, bytes.Length))

    /// Writes report.html, report.md, report.tex and trials.csv into the directory (created if needed). Each
    /// file is replaced whole or not at all: a full disk leaves the earlier ones as they were.
    let write (directory: string) (input: ReportInput) : ReportPaths =
        let paths = {
            Html = Path.Combine(directory, "report.html")
            Markdown = Path.Combine(directory, "report.md")
            Latex = Path.Combine(directory, "report.tex")
            Csv = Path.Combine(directory, "trials.csv")
        }

        writeAtomically paths.Csv (TrialsCsv.render input.Trials)
        writeAtomically paths.Markdown (Markdown.render input)
        writeAtomically paths.Latex (LatexReport.render input)
        writeAtomically paths.Html (ReportHtml.render input)
        paths

    /// Writes a comparison (see LatexTables.comparison) as a LaTeX document at `path`.
    let writeComparison (path: string) (title: string) (what: string) (rows: ComparisonRow list) =
        writeAtomically path (LatexReport.comparison title what rows)
