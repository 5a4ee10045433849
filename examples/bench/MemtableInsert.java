import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Properties;
import java.util.Random;
import java.util.stream.Stream;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * CPU per RocksDB memtable record for the node's three record shapes, with and without
 * per-group insert hints ({@code memtable_insert_with_hint_prefix_extractor}, finding 46 in
 * docs/benchmarks.md). Each write is one batch with one record for each of GROUPS groups, as the
 * log writer and the applier write them: {@code log} appends the next index of every group,
 * {@code meta} rewrites every group's applied-index record, {@code state} puts random user keys,
 * {@code apply} puts a random data key and rewrites the group's client-session record. {@code hint}
 * uses the group id (8 bytes) as the hint prefix, {@code hint9} one byte more (the record kind).
 * Prints one JSON line per run; the first 6,000 batches warm up, the next 6,000 are measured in
 * thread CPU time.
 *
 * <pre>
 * java -cp ~/.m2/repository/org/rocksdb/rocksdbjni/9.10.0/rocksdbjni-9.10.0.jar \
 *   examples/bench/MemtableInsert.java hint|hint9|plain log|meta|state|apply GROUPS
 * </pre>
 */
public class MemtableInsert {
  public static void main(String[] args) throws Exception {
    boolean hint = args[0].startsWith("hint");
    int prefix = args[0].equals("hint9") ? 9 : 8;
    String shape = args[1];
    int groups = Integer.parseInt(args[2]);
    RocksDB.loadLibrary();
    Properties p = new Properties();
    if (hint) {
      p.setProperty("memtable_insert_with_hint_prefix_extractor", "rocksdb.FixedPrefix." + prefix);
    }
    ColumnFamilyOptions cf = hint ? ColumnFamilyOptions.getColumnFamilyOptionsFromProps(p)
        : new ColumnFamilyOptions();
    cf.setWriteBufferSize(64L << 20).setMaxWriteBufferNumber(3); // as the node's defaults
    Path dir = Files.createTempDirectory("memtable-insert");
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    Random random = new Random(1);
    long[] nextIndex = new long[groups];
    byte[] value = new byte[switch (shape) {
      case "log" -> 330;
      case "meta" -> 16;
      default -> 256;
    }];
    try (Options options = new Options(new DBOptions().setCreateIfMissing(true), cf);
        RocksDB db = RocksDB.open(options, dir.toString());
        WriteOptions write = new WriteOptions()) {
      for (int phase = 0; phase < 2; phase++) {
        long records = 0;
        long start = threads.getCurrentThreadCpuTime();
        for (int round = 0; round < 6000; round++) {
          try (WriteBatch batch = new WriteBatch()) {
            for (int g = 0; g < groups; g++) {
              ByteBuffer key = switch (shape) {
                case "log" -> ByteBuffer.allocate(16).putLong(g).putLong(++nextIndex[g]);
                case "meta" -> ByteBuffer.allocate(9).putLong(g).put((byte) 4);
                default -> ByteBuffer.allocate(17).putLong(g).put((byte) 'd')
                    .putLong(random.nextInt(100_000));
              };
              batch.put(key.array(), value);
              records++;
              if (shape.equals("apply")) { // the applier's session record beside the data
                batch.put(ByteBuffer.allocate(17).putLong(g).put((byte) 's').putLong(7).array(), new byte[40]);
                records++;
              }
            }
            db.write(write, batch);
          }
        }
        long cpu = threads.getCurrentThreadCpuTime() - start;
        if (phase == 1) {
          System.out.printf("{\"hints\": %s, \"prefix\": %d, \"shape\": \"%s\", \"groups\": %d,"
              + " \"records\": %d, \"cpu_ns_per_record\": %.0f}%n", hint, hint ? prefix : 0, shape, groups,
              records, cpu / (double) records);
        }
      }
    } finally {
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }
}
