using ClDiffusion.Backends;
using ClDiffusion.Models;
using ClDiffusion.Random;
using NUnit.Framework;

namespace ClDiffusion.Tests.OpenCL;

/// <summary>
/// The argument checks live in one place (<see cref="BackendChecks"/>): every primitive rejects the same bad arguments
/// with the same exception type and message on the CPU backend and on OpenCL, and rejects them before it looks at
/// the buffers (so empty buffers do not skip a check).
/// </summary>
[TestFixture]
public sealed class BackendCheckTests : OpenClTestBase
{
    static readonly RandomKey Key = new(0xBADC0DEUL, 3, Purpose.Test);

    /// <summary>A bad call: allocates its buffers on the backend it is given, then calls one primitive.</summary>
    public delegate void BadCall(IBackend b);

    static IDeviceBuffer A(IBackend b, int rows, int cols) => b.Allocate(rows, cols);

    static readonly GaussianMixture Model = GaussianMixture.Preset(4, 2);

    public static IEnumerable<TestCaseData> Cases()
    {
        TestCaseData C(string name, BadCall call) => new TestCaseData(call).SetName("BadArgumentsFailAlike_" + name);
        // memory
        yield return C("Allocate_Negative", b => b.Allocate(-1, 4));
        yield return C("Upload_Length", b => b.Upload(A(b, 2, 3), new float[5]));
        yield return C("Download_Short", b => b.Download(A(b, 2, 3), new float[5]));
        yield return C("Copy_Shape", b => b.Copy(A(b, 2, 3), A(b, 3, 2)));
        yield return C("RepeatRows_Rows", b => b.RepeatRows(A(b, 5, 3), A(b, 2, 3), 2));
        yield return C("RepeatRows_Cols", b => b.RepeatRows(A(b, 4, 2), A(b, 2, 3), 2));
        yield return C("DuplicateRows", b => b.DuplicateRows(A(b, 3, 3), A(b, 2, 3)));
        // scores
        yield return C("Score_Shape", b => b.Score(b.Prepare(Model), A(b, 3, 4), 1f, 0f, null, A(b, 2, 4)));
        yield return C("Score_Dim", b => b.Score(b.Prepare(Model), A(b, 3, 5), 1f, 0f, null, A(b, 3, 5)));
        yield return C("Score_EmptyOffsets", b => b.Score(b.Prepare(Model), A(b, 3, 4), 1f, 1f, A(b, 0, 1), A(b, 3, 4)));
        yield return C("Score_Labels", b => b.Score(b.Prepare(Model), A(b, 3, 4), 1f, 0f, null, A(b, 3, 4), A(b, 2, 1)));
        yield return C("GuidanceCombine", b => b.GuidanceCombine(A(b, 2, 3), A(b, 5, 3), 1f));
        // element-wise and random
        yield return C("Lincomb_NoTerms", b => b.Lincomb(A(b, 2, 3), ReadOnlySpan<Term>.Empty));
        yield return C("Lincomb_FiveTerms", b => { var x = A(b, 2, 3); b.Lincomb(x, new[] { new Term(1, x), new Term(1, x), new Term(1, x), new Term(1, x), new Term(1, x) }); });
        yield return C("Lincomb_Shape", b => b.Lincomb(A(b, 2, 3), new[] { new Term(1, A(b, 2, 3)), new Term(1, A(b, 2, 4)) }));
        yield return C("DrawAlphas_TiltedR", b => b.DrawAlphas(A(b, 2, 3), Key, 0, AlphaLaw.ExpTilted, 0.5f));
        yield return C("DrawAlphas_RotatedShift", b => b.DrawAlphas(A(b, 2, 1), Key, 0, AlphaLaw.Rotated, 1.5f));
        // randomized midpoint and Picard
        yield return C("MidpointPredict_S0", b => b.MidpointPredict(A(b, 6, 3), A(b, 2, 3), A(b, 2, 4), A(b, 2, 3), 0.1f));
        yield return C("MidpointPredict_Dst", b => b.MidpointPredict(A(b, 5, 3), A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), 0.1f));
        yield return C("MidpointPredict_DstCols", b => b.MidpointPredict(A(b, 6, 4), A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), 0.1f));
        yield return C("MidpointPredict_AlphaRows", b => b.MidpointPredict(A(b, 6, 3), A(b, 2, 3), A(b, 2, 3), A(b, 3, 3), 0.1f));
        yield return C("PicardSums_Alias", b => { var s = A(b, 6, 3); b.PicardSums(s, A(b, 2, 3), s, A(b, 2, 3), 0.1f); });
        yield return C("PicardSums_ScoreCols", b => b.PicardSums(A(b, 6, 3), A(b, 2, 3), A(b, 6, 4), A(b, 2, 3), 0.1f));
        yield return C("PicardSums_AlphaRows", b => b.PicardSums(A(b, 6, 3), A(b, 2, 3), A(b, 6, 3), A(b, 3, 3), 0.1f));
        yield return C("MidpointFinal_Dst", b => b.MidpointFinal(A(b, 3, 3), A(b, 2, 3), A(b, 6, 3), A(b, 2, 3), 0.1f));
        yield return C("MidpointFinal_ScoreCols", b => b.MidpointFinal(A(b, 2, 3), A(b, 2, 3), A(b, 6, 4), A(b, 2, 3), 0.1f));
        yield return C("MidpointFinal_AlphaRows", b => b.MidpointFinal(A(b, 2, 3), A(b, 2, 3), A(b, 6, 3), A(b, 1, 3), 0.1f));
        yield return C("ExpScan_NoSteps", b => b.ExpScan(A(b, 2, 3), A(b, 0, 3), ReadOnlySpan<float>.Empty, A(b, 0, 3), A(b, 2, 3)));
        yield return C("ExpScan_Cols", b => b.ExpScan(A(b, 2, 3), A(b, 4, 4), new[] { 0.1f, 0.1f }, A(b, 4, 3), A(b, 2, 3)));
        yield return C("ExpScan_Out", b => b.ExpScan(A(b, 2, 3), A(b, 4, 3), new[] { 0.1f, 0.1f }, A(b, 4, 3), A(b, 1, 3)));
        yield return C("MaxAbsDiff", b => b.MaxAbsDiff(A(b, 2, 3), A(b, 2, 4)));
        yield return C("RowMaxAbsDiff_Shape", b => b.RowMaxAbsDiff(A(b, 2, 3), A(b, 2, 4), 1, new float[2]));
        yield return C("RowMaxAbsDiff_Rows", b => b.RowMaxAbsDiff(A(b, 5, 3), A(b, 5, 3), 2, new float[3]));
        yield return C("RowMaxAbsDiff_Span", b => b.RowMaxAbsDiff(A(b, 4, 3), A(b, 4, 3), 2, new float[1]));
        yield return C("CopyRowsWhere_Shape", b => b.CopyRowsWhere(A(b, 2, 3), A(b, 3, 3), A(b, 2, 1)));
        yield return C("CopyRowsWhere_Mask", b => b.CopyRowsWhere(A(b, 2, 3), A(b, 2, 3), A(b, 2, 2)));
        yield return C("MarkNonFinite", b => b.MarkNonFinite(A(b, 2, 3), A(b, 3, 1), 0));
        // underdamped Langevin (the CPU backend once checked less here than OpenCL)
        yield return C("LangevinScan_V", b => b.LangevinScan(A(b, 2, 3), A(b, 2, 4), A(b, 2, 3), 1, 1, 0.1f, Key, 0, null, null, null));
        yield return C("LangevinScan_M", b => b.LangevinScan(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), 0, 1, 0.1f, Key, 0, null, null, null));
        yield return C("LangevinScan_Scores", b => b.LangevinScan(A(b, 2, 3), A(b, 2, 3), A(b, 3, 3), 2, 1, 0.1f, Key, 0, null, null, null));
        yield return C("LangevinScan_Positions", b => b.LangevinScan(A(b, 2, 3), A(b, 2, 3), A(b, 4, 3), 2, 1, 0.1f, Key, 0, A(b, 2, 3), null, null));
        yield return C("LangevinScan_XOut", b => b.LangevinScan(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), 1, 1, 0.1f, Key, 0, null, A(b, 1, 3), null));
        yield return C("LangevinScan_VOut", b => b.LangevinScan(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), 1, 1, 0.1f, Key, 0, null, null, A(b, 2, 2)));
        yield return C("LangevinScan_EmptyXOut", b => b.LangevinScan(A(b, 0, 3), A(b, 0, 3), A(b, 0, 3), 1, 1, 0.1f, Key, 0, null, A(b, 1, 3), null));
        yield return C("ShenLeeMidpoint_Shape", b => b.ShenLeeMidpoint(A(b, 2, 3), A(b, 2, 3), A(b, 2, 4), A(b, 2, 3), A(b, 2, 1), 1, 0.1f, Key, 0));
        yield return C("ShenLeeMidpoint_AlphaRows", b => b.ShenLeeMidpoint(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 3, 1), 1, 0.1f, Key, 0));
        yield return C("ShenLeeMidpoint_AlphaCols", b => b.ShenLeeMidpoint(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 2, 2), 1, 0.1f, Key, 0));
        yield return C("ShenLeeMidpoint_Gamma", b => b.ShenLeeMidpoint(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 2, 1), 0, 0.1f, Key, 0));
        yield return C("ShenLeeFinal_Shape", b => b.ShenLeeFinal(A(b, 2, 3), A(b, 2, 3), A(b, 1, 3), A(b, 2, 1), 1, 0.1f, Key, 0));
        yield return C("ShenLeeFinal_AlphaRows", b => b.ShenLeeFinal(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 1, 1), 1, 0.1f, Key, 0));
        yield return C("ShenLeeFinal_Step", b => b.ShenLeeFinal(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 2, 1), 1, -0.1f, Key, 0));
        yield return C("ShenLeeFinal_EmptyStep", b => b.ShenLeeFinal(A(b, 0, 3), A(b, 0, 3), A(b, 0, 3), A(b, 0, 1), 1, 0f, Key, 0));
        // log-SNR
        yield return C("TiltedTimes", b => b.TiltedTimes(A(b, 2, 3), A(b, 2, 2), -1, 0.5));
        yield return C("DataPrediction_Shape", b => b.DataPrediction(A(b, 2, 3), A(b, 2, 3), A(b, 3, 3), A(b, 2, 1)));
        yield return C("DataPrediction_Times", b => b.DataPrediction(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 3, 1)));
        yield return C("LogSnrPredict_Slope", b => b.LogSnrPredict(A(b, 4, 3), A(b, 2, 3), A(b, 2, 3), A(b, 2, 4), A(b, 2, 2), 1));
        yield return C("LogSnrPredict_Dst", b => b.LogSnrPredict(A(b, 5, 3), A(b, 2, 3), A(b, 2, 3), null, A(b, 2, 2), 1));
        yield return C("LogSnrPicard_Alias", b => { var d = A(b, 4, 3); b.LogSnrPicard(d, A(b, 2, 3), d, A(b, 2, 2), 1, 0.5); });
        yield return C("LogSnrPicard_Shape", b => b.LogSnrPicard(A(b, 4, 3), A(b, 2, 3), A(b, 4, 4), A(b, 2, 2), 1, 0.5));
        yield return C("LogSnrFinal_Dst", b => b.LogSnrFinal(A(b, 3, 3), A(b, 2, 3), A(b, 4, 3), null, A(b, 2, 2), 1, 0.5));
        yield return C("LogSnrFinal_D", b => b.LogSnrFinal(A(b, 2, 3), A(b, 2, 3), A(b, 5, 3), null, A(b, 2, 2), 1, 0.5));
        yield return C("LogSnrLine_Alias", b => { var d = A(b, 2, 3); b.LogSnrLine(d, d, A(b, 2, 3), A(b, 2, 1), A(b, 2, 3), A(b, 2, 1), 1); });
        yield return C("LogSnrLine_Times", b => b.LogSnrLine(A(b, 2, 3), A(b, 2, 3), A(b, 2, 3), A(b, 3, 1), A(b, 2, 3), A(b, 2, 1), 1));
    }

    static Exception? Run(IBackend b, BadCall call)
    {
        try { call(b); b.Finish(); return null; }
        catch (Exception e) { return e; }
    }

    [TestCaseSource(nameof(Cases))]
    public void BadArgumentsFailAlike(BadCall call)
    {
        var cpu = Run(Cpu, call);
        var cl = Run(Cl, call);
        Assert.That(cpu, Is.InstanceOf<ArgumentException>(), "the CPU backend accepts the bad call");
        Assert.That(cl, Is.InstanceOf<ArgumentException>(), "the OpenCL backend accepts the bad call");
        Assert.That(cl!.GetType(), Is.EqualTo(cpu!.GetType()), "exception types");
        Assert.That(cl.Message, Is.EqualTo(cpu.Message), "messages");
    }

    [Test]
    public void EveryPrimitiveWithArgumentsToCheckHasACase()
    {
        var covered = Cases().Select(c => c.TestName!["BadArgumentsFailAlike_".Length..].Split('_')[0]).ToHashSet();
        var withChecks = typeof(BackendChecks).GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(m => m.Name).Where(n => n != nameof(BackendChecks.SameShape)).ToHashSet();
        Assert.That(withChecks.Except(covered), Is.Empty, "BackendChecks methods with no bad-argument case here");
    }
}
