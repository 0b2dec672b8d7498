using ClDiffusion.Models;
using ClDiffusion.Samplers;

namespace ClDiffusion.Native;

/// <summary>
/// The class-conditional fields of cld_sample_options (appended at offset 128): conditional, class_label, labels
/// and guidance become <see cref="SamplerOptions.Labels"/> and <see cref="SamplerOptions.Guidance"/>. The label array
/// is copied before the call returns (labels[i] is the class of sample first + i), so async jobs do not keep it.
/// </summary>
internal static unsafe class ClassConditioning
{
    public static SamplerOptions Apply(SamplerOptions opts, SampleOptions* o, ulong n)
    {
        if (!double.IsFinite(o->Guidance) || o->Guidance < -1)
            throw new CldException(Status.InvalidArgument, $"guidance must be finite and >= -1 (a guidance scale 1 + w >= 0), got {o->Guidance}");
        if (o->Conditional == 0)
        {
            if (o->Guidance != 0 || o->Labels is not null)
                throw new CldException(Status.InvalidArgument, "guidance or labels given, but conditional is 0 (set conditional = 1 for class-conditional sampling)");
            return opts;
        }
        ClassLabels labels;
        if (o->Labels is not null)
        {
            var copy = new ReadOnlySpan<int>(o->Labels, checked((int)n));
            try { labels = ClassLabels.PerSample(copy, (long)o->First); }
            catch (ArgumentException e) { throw new CldException(Status.InvalidArgument, $"labels: {e.Message}"); }
        }
        else
        {
            if (o->ClassLabel < ClassLabels.Null) throw new CldException(Status.InvalidArgument, $"class_label must be a class >= 0 or CLD_CLASS_NONE (-1), got {o->ClassLabel}");
            labels = ClassLabels.All(o->ClassLabel);
        }
        return opts with { Labels = labels, Guidance = o->Guidance };
    }
}
