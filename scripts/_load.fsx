// The one prelude every script loads: builds the library if needed, then references it and the
// packages it depends on (a DLL referenced by path does not bring its NuGet dependencies).
#load "_build.fsx"
// The run store's SQLite provider and its native library; the same version as Directory.Packages.props.
#r "nuget: Microsoft.Data.Sqlite, 10.0.15"
#r "nuget: Spectre.Console, 0.57.2"
#r "nuget: MathNet.Numerics, 5.0.0"
#r "nuget: Plotly.NET, 6.0.0"
#r "../src/Hybrid/bin/Release/net10.0/Hybrid.Engine.dll"
#r "../src/Hybrid/bin/Release/net10.0/Hybrid.dll"
