using Hybrid.Engine.Model;

namespace Hybrid.Engine.Training;

/// <summary>Rows of features (row-major, Rows × Columns) with one integer class label per row.</summary>
public sealed record LabeledData
{
    public LabeledData(float[] features, int[] labels, int columns)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (columns < 1)
            throw new ArgumentOutOfRangeException(nameof(columns), columns, $"columns: expected at least 1, found {columns}");
        if (labels.Length == 0)
            throw new ArgumentException("labels: expected at least one row, found an empty data set", nameof(labels));
        InputChecks.Length(features.Length, labels.Length * columns, nameof(features));
        (Features, Labels, Columns) = (features, labels, columns);
    }

    public float[] Features { get; }

    public int[] Labels { get; }

    public int Columns { get; }

    public int Rows => Labels.Length;

    /// <summary>Refuses data that does not fit the shape: wrong width, labels outside [0, P), NaN or ±∞.</summary>
    public void Check(NetworkShape shape, string name)
    {
        if (Columns != shape.D)
            throw new ArgumentException($"{name}: expected {shape.D} features per row (the network's D), found {Columns}", name);
        try
        {
            InputChecks.Labels(Labels, shape.P);
            InputChecks.Finite(Features, "features", Columns);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{name}: {e.Message}", name, e);
        }
    }
}
