using ClDiffusion.Scheduling;
using NUnit.Framework;

namespace ClDiffusion.Tests.Cli;

/// <summary>
/// Resumable shard runs (`cldiff sample --shard I/N` skips a shard already complete in --out, redoes a partial or
/// mismatching one) and `cldiff merge` refusing shards of different runs. The whole program runs in-process.
/// </summary>
[NonParallelizable]
public class ResumableShardTests : TempFolderTests
{
    string P(string f) => Path.Combine(dir, f);


    static readonly string[] Common = ["sample", "--preset", "mix3-3", "--sampler", "ei", "--steps", "4", "--n", "31", "--seed", "7", "--device", "cpu", "--quiet", "--batch", "8"];

    static (int code, string err) Run(params string[] args)
    {
        var (code, _, err) = VerbTests.Run(args);
        return (code, err);
    }

    (int code, string err) Shard(int i, int n, string file, params string[] extra) => Run([.. Common, "--shard", $"{i}/{n}", "--out", P(file), .. extra]);

    static readonly DateTime Old = new(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    /// <summary>Marks a file as old so a rewrite shows in its modification time.</summary>
    static void Age(string path) => File.SetLastWriteTimeUtc(path, Old);

    [Test]
    public void ACompleteShardIsSkippedWithoutTouchingTheFile()
    {
        var (code, err) = Shard(1, 3, "s1.npy");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Not.Contain("skipping"));
        Assert.That(File.Exists(P("s1.npy.run.json")), "a finished shard has its run record");
        var bytes = File.ReadAllBytes(P("s1.npy"));
        Age(P("s1.npy"));
        (code, err) = Shard(1, 3, "s1.npy");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("shard 1/3 is already complete").And.Contain("skipping"));
        Assert.That(File.GetLastWriteTimeUtc(P("s1.npy")), Is.EqualTo(Old), "a skipped shard is not rewritten");
        Assert.That(File.ReadAllBytes(P("s1.npy")), Is.EqualTo(bytes));
        // device, batch and streams do not change the samples: still the same run
        var other = Common.ToList();
        other[other.IndexOf("--batch") + 1] = "3";
        (code, err) = Run([.. other, "--shard", "1/3", "--out", P("s1.npy"), "--streams", "1"]);
        Assert.That(err, Does.Contain("skipping"));
        // --force samples it again (same bytes: the samples depend on the run, not on when it ran)
        (code, err) = Shard(1, 3, "s1.npy", "--force");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(File.GetLastWriteTimeUtc(P("s1.npy")), Is.Not.EqualTo(Old));
        Assert.That(File.ReadAllBytes(P("s1.npy")), Is.EqualTo(bytes));
    }

    [TestCase("--seed", "8", "seed: 7 vs 8")]
    [TestCase("--steps", "5", "option.steps: 4 vs 5")]
    [TestCase("--n", "32", "n: 31 vs 32")]
    [TestCase("--sampler", "heun", "sampler: ei vs heun")]
    [TestCase("--preset", "mix3-2", "model")]
    public void AShardOfAnotherRunIsRedone(string flag, string value, string named)
    {
        Assert.That(Shard(0, 2, "s0.npy").code, Is.EqualTo(0));
        var before = File.ReadAllBytes(P("s0.npy"));
        Age(P("s0.npy"));
        var args = Common.ToList();
        int at = args.IndexOf(flag);
        if (at >= 0) args[at + 1] = value; else args.AddRange([flag, value]);
        var (code, err) = Run([.. args, "--shard", "0/2", "--out", P("s0.npy")]);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("redoing shard 0/2").And.Contain(named));
        Assert.That(File.GetLastWriteTimeUtc(P("s0.npy")), Is.Not.EqualTo(Old));
        Assert.That(File.ReadAllBytes(P("s0.npy")), Is.Not.EqualTo(before));
        Assert.That(ShardRecord.Read(P("s0.npy.run.json")).Run.Values, Does.ContainValue(value.Contains('-') ? "preset mix3-2" : value));
    }

    [Test]
    public void AnotherShardOfTheSameRunIsRedone()
    {
        Assert.That(Shard(0, 2, "s.npy").code, Is.EqualTo(0));
        var (code, err) = Shard(1, 2, "s.npy");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("it is shard 0/2, not 1/2"));
        Assert.That(ShardRecord.Read(P("s.npy.run.json")).Shard, Is.EqualTo(new Shard(1, 2)));
    }

    [TestCase("truncated")]
    [TestCase("grown")]
    [TestCase("no record")]
    [TestCase("bad record")]
    [TestCase("record of other shape")]
    public void APartialOrUnrecordedShardIsRedone(string damage)
    {
        Assert.That(Shard(2, 3, "s2.npy").code, Is.EqualTo(0));
        var good = File.ReadAllBytes(P("s2.npy"));
        string rec = P("s2.npy.run.json");
        switch (damage)
        {
            case "truncated": File.WriteAllBytes(P("s2.npy"), good[..^4]); break;
            case "grown": File.WriteAllBytes(P("s2.npy"), [.. good, 0, 0, 0, 0]); break;
            case "no record": File.Delete(rec); break;
            case "bad record": File.WriteAllText(rec, "{\"format\": \"cldiff-shard/1\", "); break;
            case "record of other shape": File.WriteAllText(rec, File.ReadAllText(rec).Replace("\"rows\": 11", "\"rows\": 12")); break;
        }
        Age(P("s2.npy"));
        var (code, err) = Shard(2, 3, "s2.npy");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("redoing shard 2/3"));
        Assert.That(err, Does.Not.Contain("skipping"));
        Assert.That(File.ReadAllBytes(P("s2.npy")), Is.EqualTo(good), "the redone shard is the whole, right shard");
        Assert.That(ShardRecord.WhyRedo(P("s2.npy"), ShardRecord.Read(rec)), Is.Null);
        Assert.That(Directory.GetFiles(dir).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "s2.npy", "s2.npy.run.json" }), "no temporary left behind");
    }

    [Test]
    public void RerunningTheArrayAfterALostShardSamplesOnlyThatShardAndMergesByteForByte()
    {
        Assert.That(Run([.. Common, "--out", P("whole.npy")]).code, Is.EqualTo(0));
        string[] shards = [P("s0.npy"), P("s1.npy"), P("s2.npy"), P("s3.npy")];
        for (int i = 0; i < 4; i++) Assert.That(Shard(i, 4, $"s{i}.npy").code, Is.EqualTo(0));
        File.Delete(P("s2.npy"));   // a preempted task: its shard never got renamed into place
        File.Delete(P("s2.npy.run.json"));
        var sampled = new List<int>();
        for (int i = 0; i < 4; i++)
        {
            var (code, err) = Shard(i, 4, $"s{i}.npy");
            Assert.That(code, Is.EqualTo(0), err);
            if (!err.Contains("skipping")) sampled.Add(i);
        }
        Assert.That(sampled, Is.EqualTo(new[] { 2 }));
        var (mc, merr) = Run(["merge", "--out", P("merged.npy"), .. shards]);
        Assert.That(mc, Is.EqualTo(0), merr);
        Assert.That(File.ReadAllBytes(P("merged.npy")), Is.EqualTo(File.ReadAllBytes(P("whole.npy"))));
    }

    [TestCase("--seed", "8", "seed: 7 vs 8")]
    [TestCase("--sampler", "heun", "sampler: ei vs heun")]
    [TestCase("--steps", "5", "option.steps: 4 vs 5")]
    [TestCase("--n", "32", "n: 31 vs 32")]
    [TestCase("--preset", "mix3-2", "model: gaussian-mixture(K=3, d=3) vs gaussian-mixture(K=2, d=3)")]
    [TestCase("--score-error", "0.1", "score_error: 0 vs 0.1")]
    public void MergeRefusesShardsOfDifferentRunsNamingTheDifference(string flag, string value, string named)
    {
        Assert.That(Shard(0, 2, "a0.npy").code, Is.EqualTo(0));
        var args = Common.ToList();
        int at = args.IndexOf(flag);
        if (at >= 0) args[at + 1] = value; else args.AddRange([flag, value]);
        Assert.That(Run([.. args, "--shard", "1/2", "--out", P("b1.npy")]).code, Is.EqualTo(0));
        var (code, err) = Run("merge", "--out", P("m.npy"), P("a0.npy"), P("b1.npy"));
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("different run").And.Contain(named));
        Assert.That(File.Exists(P("m.npy")), Is.False);
        // the same files of one run merge
        Assert.That(Shard(1, 2, "a1.npy").code, Is.EqualTo(0));
        Assert.That(Run("merge", "--out", P("m.npy"), P("a0.npy"), P("a1.npy")).code, Is.EqualTo(0));
    }

    [Test]
    public void MergeRefusesMissingMisorderedUnrecordedOrDamagedShards()
    {
        for (int i = 0; i < 3; i++) Assert.That(Shard(i, 3, $"s{i}.npy").code, Is.EqualTo(0));
        void Refused(string why, params string[] files)
        {
            var (code, err) = Run(["merge", "--out", P("m.npy"), .. files.Select(P)]);
            Assert.That(code, Is.Not.EqualTo(0), $"merge of {string.Join(" ", files)} should fail");
            Assert.That(err, Does.Contain(why));
            Assert.That(File.Exists(P("m.npy")), Is.False);
        }
        Refused("shards 2..2 of 3 are missing", "s0.npy", "s1.npy");
        Refused("shard 1/3 is missing", "s0.npy", "s2.npy", "s2.npy");
        Refused("stands at position 0", "s1.npy", "s0.npy", "s2.npy");
        File.Copy(P("s1.npy"), P("plain.npy"));
        Refused("plain.npy has no run record", "s0.npy", "plain.npy", "s2.npy");
        var s1 = File.ReadAllBytes(P("s1.npy"));
        File.WriteAllBytes(P("s1.npy"), s1[..^4]);
        Refused("its header needs", "s0.npy", "s1.npy", "s2.npy");
        File.WriteAllBytes(P("s1.npy"), s1);
        Assert.That(Run(["merge", "--out", P("m.npy"), .. new[] { "s0.npy", "s1.npy", "s2.npy" }.Select(P)]).code, Is.EqualTo(0));
    }

    [Test]
    public void RunIdentityNamesTheFirstDifferenceAndTheRecordRoundTrips()
    {
        var a = new RunIdentity(new Dictionary<string, string> { ["seed"] = "1", ["sampler"] = "ei" });
        var b = new RunIdentity(new Dictionary<string, string> { ["seed"] = "2", ["sampler"] = "ei" });
        var c = new RunIdentity(new Dictionary<string, string> { ["seed"] = "1" });
        Assert.That(RunIdentity.Difference(a, a), Is.Null);
        Assert.That(RunIdentity.Difference(a, b), Is.EqualTo("seed: 1 vs 2"));
        Assert.That(RunIdentity.Difference(a, c), Is.EqualTo("sampler: ei vs (absent)"));
        Assert.That(RunIdentity.Text(0.1), Is.EqualTo("0.1"));
        var r = new ShardRecord(a, new Shard(3, 8), 30, 10, 16, 768);
        File.WriteAllText(P("x.run.json"), r.ToJson());
        var back = ShardRecord.Read(P("x.run.json"));
        Assert.That(RunIdentity.Difference(back.Run, a), Is.Null);
        Assert.That((back.Shard, back.FirstRow, back.Rows, back.Cols, back.NpyBytes), Is.EqualTo((r.Shard, 30L, 10L, 16, 768L)));
        File.WriteAllText(P("y.run.json"), "{\"format\": \"something-else\"}");
        Assert.That(() => ShardRecord.Read(P("y.run.json")), Throws.TypeOf<InvalidDataException>().With.Message.Contain("not a shard record"));
    }

    [Test]
    public void ABillionSampleRunIsShardedIntoProcessSizedPieces()
    {
        // 1e9 x d = 16 floats do not fit one process, but each of its shards does: shard 0 of 10^6 is samples [0, 1000)
        string[] run = ["sample", "--preset", "mix16-5", "--sampler", "ei", "--steps", "3", "--seed", "5", "--device", "cpu", "--quiet"];
        var (code, err) = Run([.. run, "--n", "1000000000", "--shard", "0/1000000", "--out", P("big0.npy")]);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(Run([.. run, "--n", "1000", "--out", P("small.npy")]).code, Is.EqualTo(0));
        Assert.That(File.ReadAllBytes(P("big0.npy")), Is.EqualTo(File.ReadAllBytes(P("small.npy"))));
        (code, err) = Run([.. run, "--n", "1000000000", "--out", P("whole.npy")]);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("exceeds the 2^31 floats").And.Contain("--shard"));
        (code, err) = Run([.. run, "--n", "1000000000", "--shard", "0/4", "--out", P("quarter.npy")]);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("shard 0/4 holds 250000000 samples").And.Contain("more shards"));
        Assert.That(Directory.GetFiles(dir).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "big0.npy", "big0.npy.run.json", "small.npy" }));
    }

    [Test]
    public void AnUnshardedRunOverAShardLeavesNoStaleRecord()
    {
        Assert.That(Shard(0, 1, "s.npy").code, Is.EqualTo(0));
        Assert.That(File.Exists(P("s.npy.run.json")));
        var args = Common.ToList();
        args[args.IndexOf("--seed") + 1] = "9";
        Assert.That(Run([.. args, "--out", P("s.npy")]).code, Is.EqualTo(0));
        Assert.That(File.Exists(P("s.npy.run.json")), Is.False, "the record of seed 7 must not stay beside samples of seed 9");
        var (code, err) = Shard(0, 1, "s.npy");
        Assert.That(err, Does.Contain("redoing shard 0/1").And.Contain("no run record"));
    }

    [Test]
    public void ForceWithoutAShardIsAnError()
    {
        var (code, err) = Run([.. Common, "--out", P("w.npy"), "--force"]);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("--force"));
        Assert.That(File.Exists(P("w.npy")), Is.False);
    }
}
