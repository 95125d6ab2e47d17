namespace Hybrid

open System

// The dashboard's HTML: the list of sweeps, a sweep's live page (filled in by dashboard.js from the
// JSON endpoint) and the pages that explain an error. Every user string is HTML-encoded.

[<RequireQualifiedAccess>]
module DashboardPages =

    let private encode = ReportHtml.encode

    /// The stylesheet and scripts are files the dashboard itself serves, so the Content-Security-Policy
    /// can forbid inline script and every other origin.
    let private page (title: string) (scripts: bool) (body: string) =
        let assets =
            if scripts then
                "<script src=\"/assets/plotly.js\"></script>\n<script src=\"/assets/dashboard.js\" defer></script>\n"
            else
                ""

        sprintf
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>%s</title>\n<link rel=\"icon\" href=\"data:,\">\n<link rel=\"stylesheet\" href=\"/assets/dashboard.css\">\n%s</head>\n<body>\n<main>\n%s\n</main>\n</body>\n</html>\n"
            (encode title)
            assets
            body

    /// The link to a sweep's page; the name is percent-encoded in the URL, then HTML-encoded.
    let sweepLink (name: string) = "/sweep?name=" + Uri.EscapeDataString name

    /// Every sweep in the store with how far it has come.
    let index (location: string) (sweeps: (string * SweepCounts) list) =
        let rows =
            sweeps
            |> List.map (fun (name, c) ->
                sprintf
                    "<tr><td><a href=\"%s\">%s</a></td><td>%d</td><td>%d</td><td>%d</td></tr>"
                    (encode (sweepLink name))
                    (encode name)
                    c.Finished
                    c.Running
                    c.Pending)
            |> String.concat "\n"

        let listing =
            if sweeps.IsEmpty then
                "<p>The store holds no sweep yet.</p>"
            else
                sprintf
                    "<table class=\"sweeps\">\n<thead><tr><th>sweep</th><th>finished</th><th>running</th><th>pending</th></tr></thead>\n<tbody>\n%s\n</tbody>\n</table>"
                    rows

        page
            "Hybrid dashboard"
            false
            (sprintf "<h1>Sweeps</h1>\n<p class=\"meta\">Run store %s (read-only)</p>\n%s" (encode location) listing)

    /// A sweep's live page: an empty frame that dashboard.js fills from the JSON and keeps up to date.
    let sweep (name: string) =
        let body =
            [
                "<p class=\"meta\"><a href=\"/\">All sweeps</a></p>"
                sprintf "<h1>Sweep: %s</h1>" (encode name)
                sprintf
                    "<div id=\"dashboard\" data-api=\"%s\">"
                    (encode ("/api/sweep?name=" + Uri.EscapeDataString name))
                "<p id=\"connection\" class=\"connection\" role=\"status\">Reading the run store…</p>"
                "<p class=\"meta\"><span id=\"summary\"></span> · <span id=\"updated\"></span></p>"
                "<div id=\"counts\" class=\"counts\"></div>"
                "<p id=\"notes\" class=\"notes\" hidden></p>"
                "<h2>Running trials</h2>\n<div id=\"charts-running\"></div>\n<p id=\"no-running\">No trial is running.</p>"
                "<h2>Leaderboard</h2>"
                sprintf "<p>%s</p>" (encode ReportTables.leaderboardNote)
                "<div id=\"leaderboard\"></div>"
                "<h2>Learning curves</h2>\n<div id=\"charts-learning\"></div>"
                "<h2>Settings vs validation accuracy</h2>\n<div id=\"charts-settings\" class=\"grid\"></div>"
                "<h2>Failed and diverged trials</h2>\n<div id=\"failures\"></div>"
                "</div>"
            ]
            |> String.concat "\n"

        page (sprintf "Live: %s" name) true body

    /// A page that says what went wrong and what to do; never a stack trace.
    let problem (title: string) (message: string) =
        page
            title
            false
            (sprintf
                "<h1>%s</h1>\n<p class=\"problem\">%s</p>\n<p><a href=\"/\">All sweeps</a></p>"
                (encode title)
                (encode message))

    /// The report's style sheet and the few rules only the live page needs.
    let css =
        ReportHtml.style
        + """
.connection { padding: 8px 12px; border-radius: 4px; background: #eef6ee; border: 1px solid #b7dcb7; }
.connection.lost { background: #fff1f0; border-color: #e5a09b; color: #8a1c12; font-weight: 600; }
.counts { display: flex; gap: 10px; flex-wrap: wrap; margin: 12px 0; }
.count { background: #fff; border: 1px solid #d8dee4; border-radius: 4px; padding: 6px 12px; font-variant-numeric: tabular-nums; }
.count b { font-size: 1.3em; margin-right: 4px; }
.problem { background: #fff1f0; border: 1px solid #e5a09b; padding: 8px 12px; }
"""
