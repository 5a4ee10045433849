package io.quorumkv.storage;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.rocksdb.AbstractEventListener;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.BloomFilter;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompactRangeOptions;
import org.rocksdb.CompactionStyle;
import org.rocksdb.CompressionType;
import org.rocksdb.DBOptions;
import org.rocksdb.EnvOptions;
import org.rocksdb.IngestExternalFileOptions;
import org.rocksdb.Options;
import org.rocksdb.SstFileWriter;
import org.rocksdb.InfoLogLevel;
import org.rocksdb.LRUCache;
import org.rocksdb.LiveFileMetaData;
import org.rocksdb.ReadOptions;
import org.rocksdb.ReadTier;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.TableFileCreationInfo;
import org.rocksdb.TableFileCreationReason;
import org.rocksdb.WALRecoveryMode;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The RocksDB {@link Backend}: one database per node, one column family per key space. Every
 * option set here is deliberate; {@code docs/storage.md} explains each.
 */
final class RocksBackend implements Backend {

  private static final Logger LOG = LoggerFactory.getLogger(RocksBackend.class);

  static {
    // not RocksDB.loadLibrary(): it leaves a 15 MB copy in /tmp per start that ends in a kill
    NativeLibrary.load();
  }

  /** Obsolete WAL files kept for reuse (each up to one WAL file's size on disk). */
  static final long WAL_FILES_RECYCLED = 4;

  private final Path dbDir;
  /** Where bulk loads stage their SST files (beside the database; emptied at open). */
  private final Path ingestDir;
  private final RocksDB db;
  private final EnumMap<Cf, ColumnFamilyHandle> handles = new EnumMap<>(Cf.class);
  private final WriteOptions asyncWrite;
  /** Reads only memtables and the block cache: RocksDB answers Incomplete rather than read a file. */
  private final ReadOptions memoryOnly;
  /** Native objects in the order they must be closed (the database's first). */
  private final List<AutoCloseable> resources = new ArrayList<>();
  private final ExecutorService reclaimer;
  /** Table-file bytes written, by column family (Cf ordinal) and reason (0 flush, 1 compaction). */
  private final java.util.concurrent.atomic.AtomicLongArray sstBytes =
      new java.util.concurrent.atomic.AtomicLongArray(Cf.values().length * 2);
  /**
   * Native calls on a closed database crash the JVM, so every call holds this shared and close()
   * holds it exclusively: a call after close throws instead.
   */
  private final ReentrantReadWriteLock guard = new ReentrantReadWriteLock();
  private volatile boolean closed;
  /** Whether any unsynced write was made; close() then syncs the WAL (a clean shutdown). */
  private volatile boolean unsyncedWrites;

  /** Opens the engine over {@code dir}: lock, META check, database, snapshot files. */
  static StorageEngine openEngine(Path dir, String clusterId, StorageOptions options) {
    DirLock lock = DirLock.acquire(dir);
    RocksBackend backend = null;
    try {
      checkOrWriteMeta(dir, clusterId, options.nodeId());
      backend = new RocksBackend(dir.resolve("db"), options);
      FileBlobStore blobs = new FileBlobStore(dir.resolve("snapshots"));
      return new StorageEngine(backend, blobs, clusterId, options, lock::release);
    } catch (RuntimeException | Error e) {
      if (backend != null) {
        backend.close();
      }
      lock.release();
      throw e;
    }
  }

  private static void checkOrWriteMeta(Path dir, String clusterId, long nodeId) {
    Path meta = dir.resolve("META");
    String where = "data directory " + dir;
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(meta)) {
      p.load(in);
    } catch (NoSuchFileException e) {
      if (Files.exists(dir.resolve("db"))) {
        throw new StorageStartupException(StorageStartupException.Reason.BAD_META,
            where + " has a database but no META file");
      }
      writeMeta(dir, new NodeMeta(StorageEngine.FORMAT_VERSION, clusterId, nodeId));
      return;
    } catch (IOException e) {
      throw new StorageStartupException(StorageStartupException.Reason.BAD_META,
          "cannot read " + meta, e);
    }
    NodeMeta.fromProperties(p, where).check(clusterId, nodeId, where);
  }

  /** Writes META atomically: temporary file, fsync, rename, fsync of the directory. */
  static void writeMeta(Path dir, NodeMeta meta) {
    Path tmp = dir.resolve("META.tmp");
    try {
      try (OutputStream out = Files.newOutputStream(tmp)) {
        meta.toProperties().store(out, "QuorumKV node data; do not edit");
      }
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ch.force(true);
      }
      Files.move(tmp, dir.resolve("META"), StandardCopyOption.ATOMIC_MOVE);
      FileBlobStore.syncDirectory(dir);
    } catch (IOException e) {
      throw new StorageException("cannot write META in " + dir, e);
    }
  }

  /** Opens just the database (tests wrap it; production goes through {@link #openEngine}). */
  static RocksBackend open(Path dbDir, StorageOptions options) {
    return new RocksBackend(dbDir, options);
  }

  private RocksBackend(Path dbDir, StorageOptions options) {
    this.dbDir = dbDir;
    this.ingestDir = dbDir.resolveSibling("ingest");
    try {
      Files.createDirectories(dbDir);
      if (Files.isDirectory(ingestDir)) {
        try (Stream<Path> stale = Files.list(ingestDir)) {
          for (Path p : (Iterable<Path>) stale::iterator) {
            Files.deleteIfExists(p);
          }
        }
      }
      LRUCache cache = track(new LRUCache(options.blockCacheBytes()));
      BloomFilter bloom = track(new BloomFilter(10));
      DBOptions dbOptions = track(new DBOptions()
          .setCreateIfMissing(true)
          .setCreateMissingColumnFamilies(true)
          // stop replay at the first damaged WAL record: a torn tail is dropped, nothing after
          // a hole is ever served; synced (acknowledged) writes precede any torn record. Damage
          // with intact records after it is refused before this (WalCheck).
          .setWalRecoveryMode(WALRecoveryMode.PointInTimeRecovery)
          .setMaxTotalWalSize(options.maxTotalWalBytes())
          .setMaxBackgroundJobs(2)
          .setKeepLogFileNum(3)
          .setMaxLogFileSize(8L << 20)
          // flushes and compactions hand their SST writes to the disk a MiB at a time
          // (sync_file_range) instead of leaving the kernel to write back tens of MiB at once:
          // a log fsync queued behind such a burst was the tail of every write's latency
          // (benchmarks.md, finding 51: fsync p99 3.8-5.2 -> 2.6-4.1 ms, put p99 -1 to -2 ms)
          .setBytesPerSync(1L << 20)
          // WAL files are reused, overwritten in place: a log fsync then changes no file size and
          // allocates no block, so it needs no filesystem journal commit, which waited for other
          // files' write-back (finding 64: fsync p99.9 14-17 -> 6-10 ms beside flushes and
          // compactions, put p99.9 about -35 %). WalCheck reads reused files (previous lives).
          .setRecycleLogFileNum(WAL_FILES_RECYCLED)
          .setInfoLogLevel(InfoLogLevel.WARN_LEVEL)
          .setListeners(List.of(track(new SstWriteCounter()))));
      List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
      descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY,
          track(new ColumnFamilyOptions())));
      for (Cf cf : Cf.values()) {
        BlockBasedTableConfig table = new BlockBasedTableConfig()
            .setBlockCache(cache)
            .setBlockSize(16 * 1024)
            // index and filter blocks count against the cache bound: memory stays bounded
            .setCacheIndexAndFilterBlocks(true)
            .setPinL0FilterAndIndexBlocksInCache(true);
        if (cf == Cf.STATE) {
          table.setFilterPolicy(bloom); // point gets on user keys
        }
        ColumnFamilyOptions cfOptions = track(withInsertHints()
            .setTableFormatConfig(table)
            .setCompactionStyle(CompactionStyle.LEVEL)
            .setLevelCompactionDynamicLevelBytes(true)
            // the log's memtable outlasts the log compactions: entries compacted (range-deleted)
            // while still in it are dropped by the flush instead of written to an SST and
            // compacted away later (finding 64: a quarter of the log bytes reach a file, not all)
            .setWriteBufferSize(cf == Cf.LOG ? options.logWriteBufferBytes() : options.writeBufferBytes())
            .setMaxWriteBufferNumber(3)
            // the log is short-lived and mostly opaque payloads: not worth compressing
            .setCompressionType(cf == Cf.STATE ? CompressionType.LZ4_COMPRESSION
                : CompressionType.NO_COMPRESSION));
        descriptors.add(new ColumnFamilyDescriptor(
            cf.columnFamily.getBytes(java.nio.charset.StandardCharsets.UTF_8), cfOptions));
      }
      Optional<WalCheck.MidLogDamage> damage = WalCheck.check(dbDir);
      if (damage.isPresent()) {
        throw new StorageStartupException(StorageStartupException.Reason.WAL_CORRUPTION,
            "the write-ahead log in " + dbDir + " is damaged before its end (" + damage.get().describe()
                + "); recovering would silently drop the writes after the damage. Replace the node: remove"
                + " it from the cluster, delete " + dbDir.getParent() + ", add it back under a new id");
      }
      List<ColumnFamilyHandle> opened = new ArrayList<>();
      RocksDB opening;
      try {
        opening = RocksDB.open(dbOptions, dbDir.toString(), descriptors, opened);
      } catch (RocksDBException e) {
        throw new StorageStartupException(StorageStartupException.Reason.BAD_META,
            "cannot open RocksDB in " + dbDir + ": " + e.getMessage(), e);
      }
      this.db = opening;
      // handles close before the database, the database before its options
      List<AutoCloseable> first = new ArrayList<>(opened);
      first.add(db);
      resources.addAll(0, first);
      for (Cf cf : Cf.values()) {
        handles.put(cf, opened.get(cf.ordinal() + 1));
      }
      this.asyncWrite = track(new WriteOptions().setSync(false));
      this.memoryOnly = track(new ReadOptions().setReadTier(ReadTier.BLOCK_CACHE_TIER));
      this.reclaimer = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "quorumkv-rocksdb-reclaim");
        t.setDaemon(true);
        return t;
      });
    } catch (IOException e) {
      closeResources();
      throw new StorageException("cannot create " + dbDir, e);
    } catch (RuntimeException e) {
      closeResources();
      throw e;
    }
  }

  /**
   * Column family options whose memtable keeps, per 9-byte key prefix (the group id and the first
   * byte of the key within the group: a Raft-metadata record's type, the kind of a state record such
   * as data or client session, the top byte of a log index), the skip-list position of the
   * prefix's last insert and starts the next insert there. A group's log appends, applied-index
   * rewrites and session updates land next to their previous ones, so with many groups they no
   * longer descend the whole skip list, a chain of cache misses (findings 40 and 46 in
   * docs/benchmarks.md). Not exposed by RocksJava's setters, hence the options string; fails loudly
   * if RocksDB does not take it.
   */
  private static ColumnFamilyOptions withInsertHints() {
    java.util.Properties p = new java.util.Properties();
    p.setProperty("memtable_insert_with_hint_prefix_extractor", "rocksdb.FixedPrefix.9");
    ColumnFamilyOptions o = ColumnFamilyOptions.getColumnFamilyOptionsFromProps(p);
    if (o == null) {
      throw new IllegalStateException("RocksDB refused memtable_insert_with_hint_prefix_extractor");
    }
    return o;
  }

  private <T extends AutoCloseable> T track(T o) {
    resources.add(o);
    return o;
  }

  private void closeResources() {
    for (AutoCloseable r : resources) {
      try {
        r.close();
      } catch (Exception e) {
        LOG.warn("closing {} failed", r, e);
      }
    }
    resources.clear();
  }

  private static final class RocksBatch implements Batch {
    final WriteBatch wb = new WriteBatch();
    final EnumMap<Cf, ColumnFamilyHandle> handles;

    RocksBatch(EnumMap<Cf, ColumnFamilyHandle> handles) {
      this.handles = handles;
    }

    @Override
    public void put(Cf cf, byte[] key, byte[] value) {
      try {
        wb.put(handles.get(cf), key, value);
      } catch (RocksDBException e) {
        throw new StorageException("cannot add to a write batch", e);
      }
    }

    @Override
    public void put(Cf cf, byte[] key, ByteBuffer value) {
      if (!value.isDirect()) {
        // A record too large for a scratch buffer: RocksDB's direct put takes direct buffers only.
        byte[] v = value.hasArray() && value.arrayOffset() == 0 && value.position() == 0
            && value.limit() == value.array().length ? value.array() : Codec.toArray(value);
        put(cf, key, v);
        return;
      }
      try {
        // JNI reads both buffers in place: no heap array, no copy on the way in but the batch's own.
        wb.put(handles.get(cf), Scratch.key(key), value);
      } catch (RocksDBException e) {
        throw new StorageException("cannot add to a write batch", e);
      }
    }

    @Override
    public void delete(Cf cf, byte[] key) {
      try {
        wb.delete(handles.get(cf), key);
      } catch (RocksDBException e) {
        throw new StorageException("cannot add to a write batch", e);
      }
    }

    @Override
    public void deleteRange(Cf cf, byte[] from, byte[] to) {
      if (Arrays.compareUnsigned(from, to) >= 0) {
        return;
      }
      try {
        wb.deleteRange(handles.get(cf), from, to);
      } catch (RocksDBException e) {
        throw new StorageException("cannot add to a write batch", e);
      }
    }

    @Override
    public boolean isEmpty() {
      return wb.count() == 0;
    }

    @Override
    public void close() {
      wb.close();
    }
  }

  @Override
  public Batch newBatch() {
    return new RocksBatch(handles);
  }

  /**
   * Writes the records into one SST file with {@link SstFileWriter}, then ingests it: RocksDB links
   * the file into the tree with one MANIFEST write, so a multi-gigabyte snapshot never goes through
   * the WAL and memtables, and becomes visible at once.
   */
  @Override
  public BulkLoad bulkLoad(Cf cf) {
    Path file = ingestDir.resolve(cf.columnFamily + "-" + System.nanoTime() + ".sst");
    EnvOptions env = new EnvOptions();
    Options sstOptions = new Options().setCompressionType(
        cf == Cf.STATE ? CompressionType.LZ4_COMPRESSION : CompressionType.NO_COMPRESSION);
    SstFileWriter writer = new SstFileWriter(env, sstOptions);
    try {
      Files.createDirectories(ingestDir);
      writer.open(file.toString());
    } catch (IOException | RocksDBException e) {
      writer.close();
      sstOptions.close();
      env.close();
      throw new StorageException("cannot create " + file, e);
    }
    return new BulkLoad() {
      private long count;
      private boolean done;

      @Override
      public void add(byte[] key, byte[] value) {
        try {
          writer.put(key, value);
          count++;
        } catch (RocksDBException e) {
          throw new StorageException("cannot write " + file + ": " + e.getMessage(), e);
        }
      }

      @Override
      public void commit() {
        if (count == 0) { // RocksDB refuses an empty SST file; there is nothing to load anyway
          done = true;
          return;
        }
        guarded(() -> {
          try (IngestExternalFileOptions o = new IngestExternalFileOptions().setMoveFiles(true)) {
            writer.finish();
            db.ingestExternalFile(handles.get(cf), List.of(file.toString()), o);
            done = true;
          } catch (RocksDBException e) {
            throw new StorageException("cannot ingest " + file + ": " + e.getMessage(), e);
          }
          return null;
        });
      }

      @Override
      public void close() {
        writer.close();
        sstOptions.close();
        env.close();
        try {
          Files.deleteIfExists(file); // moved into the database when ingested
        } catch (IOException e) {
          LOG.warn("cannot delete {}", file, e);
        }
      }
    };
  }

  /** Runs a native call unless the database is closed. */
  private <T> T guarded(Supplier<T> call) {
    guard.readLock().lock();
    try {
      if (closed) {
        throw new IllegalStateException("storage engine is closed (" + dbDir + ")");
      }
      return call.get();
    } finally {
      guard.readLock().unlock();
    }
  }

  @Override
  public void write(Batch batch, boolean sync) {
    guarded(() -> {
      try {
        // A synced write is an unsynced write then a WAL sync, not WriteOptions.sync: a write with
        // sync=true leads a RocksDB write group that holds the write queue through its fsync, so
        // every unsynced write (the state machine's) that queues behind it waits for the fsync
        // too. SyncWAL syncs outside the write queue and does not block other writers (RocksDB's
        // "WAL Performance" page), and makes durable everything written before it, this batch
        // included: the same guarantee, without the applier stalling behind the log writer.
        db.write(asyncWrite, ((RocksBatch) batch).wb);
        if (sync) {
          db.syncWal();
        } else {
          unsyncedWrites = true;
        }
        return null;
      } catch (RocksDBException e) {
        throw new StorageException(
            "RocksDB write failed in " + dbDir + ": " + e.getMessage()
                + (e.getStatus() == null ? "" : " (" + e.getStatus().getCodeString() + ")"), e);
      }
    });
  }

  @Override
  public void sync() {
    guarded(() -> {
      try {
        db.syncWal(); // outside RocksDB's write queue: writers go on while it runs
        return null;
      } catch (RocksDBException e) {
        throw new StorageException(
            "RocksDB WAL sync failed in " + dbDir + ": " + e.getMessage()
                + (e.getStatus() == null ? "" : " (" + e.getStatus().getCodeString() + ")"), e);
      }
    });
  }

  @Override
  public byte[] get(Cf cf, byte[] key) {
    return guarded(() -> {
      try {
        return db.get(handles.get(cf), key);
      } catch (RocksDBException e) {
        throw new StorageException("RocksDB read failed in " + location(cf), e);
      }
    });
  }

  @Override
  public byte[] getInMemory(Cf cf, byte[] key) {
    return guarded(() -> {
      try {
        return db.get(handles.get(cf), memoryOnly, key);
      } catch (RocksDBException e) {
        if (e.getStatus() != null && e.getStatus().getCode() == org.rocksdb.Status.Code.Incomplete) {
          return NOT_IN_MEMORY; // a block it needs is on disk only
        }
        throw new StorageException("RocksDB read failed in " + location(cf), e);
      }
    });
  }

  @Override
  public void scan(Cf cf, byte[] from, byte[] to, KvReader.Visitor visitor) {
    guarded(() -> {
      try (ReadOptions ro = new ReadOptions()) {
        scan(ro, cf, from, to, visitor);
      }
      return null;
    });
  }

  private void scan(ReadOptions ro, Cf cf, byte[] from, byte[] to, KvReader.Visitor visitor) {
    try (RocksIterator it = db.newIterator(handles.get(cf), ro)) {
      byte[] last = null;
      for (it.seek(from); it.isValid(); it.next()) {
        byte[] key = it.key();
        if (Arrays.compareUnsigned(key, to) >= 0 || !visitor.visit(key, it.value())) {
          break;
        }
        last = key;
      }
      try {
        it.status();
      } catch (RocksDBException e) {
        throw new StorageCorruptionException(
            location(cf) + ": reading " + Keys.describe(cf, last == null ? from : last)
                + (last == null ? "" : " (the last good record)") + " failed: " + e.getMessage()
                + damagedRange(cf, e.getMessage()));
      }
    }
  }

  @Override
  public View view() {
    org.rocksdb.Snapshot snapshot = guarded(db::getSnapshot);
    ReadOptions ro = new ReadOptions().setSnapshot(snapshot);
    return new View() {
      private boolean released;

      @Override
      public byte[] get(Cf cf, byte[] key) {
        return guarded(() -> {
          try {
            return db.get(handles.get(cf), ro, key);
          } catch (RocksDBException e) {
            throw new StorageException("RocksDB read failed in " + location(cf), e);
          }
        });
      }

      @Override
      public void scan(Cf cf, byte[] from, byte[] to, KvReader.Visitor visitor) {
        guarded(() -> {
          RocksBackend.this.scan(ro, cf, from, to, visitor);
          return null;
        });
      }

      @Override
      public void close() {
        guard.readLock().lock();
        try {
          if (!released && !closed) {
            db.releaseSnapshot(snapshot);
          }
          released = true;
          ro.close();
        } finally {
          guard.readLock().unlock();
        }
      }
    };
  }

  @Override
  public String location(Cf cf) {
    return "column family '" + cf.columnFamily + "' in " + dbDir;
  }

  private static final java.util.regex.Pattern SST = java.util.regex.Pattern.compile(
      "([0-9]+\\.sst)");

  /** The records a damaged SST file named in a RocksDB error holds, from its key range. */
  private String damagedRange(Cf cf, String error) {
    java.util.regex.Matcher m = SST.matcher(error == null ? "" : error);
    if (!m.find()) {
      return "";
    }
    for (LiveFileMetaData f : db.getLiveFilesMetaData()) {
      if (f.fileName().endsWith(m.group(1))) {
        return "; that file holds " + Keys.describe(cf, f.smallestKey()) + " to "
            + Keys.describe(cf, f.largestKey());
      }
    }
    return "";
  }

  /** Names the SST files whose key range holds {@code key}, else the WAL/memtable. */
  @Override
  public String locate(Cf cf, byte[] key) {
    List<String> files = new ArrayList<>();
    try {
      guarded(() -> {
        for (LiveFileMetaData f : db.getLiveFilesMetaData()) {
          String cfName = new String(f.columnFamilyName(), java.nio.charset.StandardCharsets.UTF_8);
          if (cfName.equals(cf.columnFamily)
              && Arrays.compareUnsigned(f.smallestKey(), key) <= 0
              && Arrays.compareUnsigned(key, f.largestKey()) <= 0) {
            files.add(f.path() + f.fileName());
          }
        }
        return null;
      });
    } catch (RuntimeException e) {
      return location(cf);
    }
    return location(cf) + (files.isEmpty() ? " (memtable / write-ahead log)"
        : " (file " + String.join(" or ", files) + ")");
  }

  @Override
  public void reclaim(Cf cf, byte[] from, byte[] to) {
    if (closed) {
      return;
    }
    reclaimer.execute(() -> {
      try (CompactRangeOptions o = new CompactRangeOptions()
          .setBottommostLevelCompaction(
              CompactRangeOptions.BottommostLevelCompaction.kForceOptimized)) {
        guarded(() -> {
          try {
            db.compactRange(handles.get(cf), from, to, o);
          } catch (RocksDBException e) {
            LOG.debug("background compaction of {} stopped: {}", location(cf), e.getMessage());
          }
          return null;
        });
      } catch (IllegalStateException closedMeanwhile) {
        // the engine closed before this compaction ran
      }
    });
  }

  /** Counts the bytes of every table file RocksDB finishes writing (a flush's or a compaction's). */
  private final class SstWriteCounter extends AbstractEventListener {
    SstWriteCounter() {
      super(EnabledEventCallback.ON_TABLE_FILE_CREATED);
    }

    @Override
    public void onTableFileCreated(TableFileCreationInfo info) {
      for (Cf cf : Cf.values()) {
        if (cf.columnFamily.equals(info.getColumnFamilyName())) {
          int reason = info.getReason() == TableFileCreationReason.FLUSH ? 0 : 1;
          sstBytes.addAndGet(cf.ordinal() * 2 + reason, info.getFileSize());
        }
      }
    }
  }

  @Override
  public SstWrites sstWrites() {
    long meta = sstBytes.get(Cf.META.ordinal() * 2) + sstBytes.get(Cf.META.ordinal() * 2 + 1);
    return new SstWrites(sstBytes.get(Cf.LOG.ordinal() * 2), sstBytes.get(Cf.LOG.ordinal() * 2 + 1),
        sstBytes.get(Cf.STATE.ordinal() * 2), sstBytes.get(Cf.STATE.ordinal() * 2 + 1), meta);
  }

  @Override
  public long diskBytes() {
    long sum = 0;
    try (Stream<Path> files = Files.list(dbDir)) {
      for (Path p : (Iterable<Path>) files::iterator) {
        String name = p.getFileName().toString();
        if (name.endsWith(".sst") || name.endsWith(".log")) {
          try {
            sum += Files.size(p);
          } catch (NoSuchFileException gone) {
            // compacted away while we listed
          }
        }
      }
    } catch (IOException e) {
      throw new StorageException("cannot list " + dbDir, e);
    }
    return sum;
  }

  /** Flushes every memtable to SST files (tests: so records are in files). */
  void flush() {
    guarded(() -> {
      try (org.rocksdb.FlushOptions o = new org.rocksdb.FlushOptions().setWaitForFlush(true)) {
        db.flush(o, new ArrayList<>(handles.values()));
      } catch (RocksDBException e) {
        throw new StorageException("flush failed", e);
      }
      return null;
    });
  }

  /** Waits for queued compactions to finish (tests). */
  void awaitReclaim() {
    try {
      reclaimer.submit(() -> { }).get(60, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new StorageException("reclaim did not finish", e);
    }
  }

  /**
   * Closes in dependency order: stop background compaction, wait for in-flight calls, sync the
   * WAL, then column family handles, the database, and the options, cache and filter it used.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    reclaimer.shutdownNow();
    db.cancelAllBackgroundWork(true); // a running manual compaction returns early
    try {
      if (!reclaimer.awaitTermination(30, TimeUnit.SECONDS)) {
        LOG.warn("background compaction did not stop");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    guard.writeLock().lock();
    try {
      closed = true;
      if (unsyncedWrites) {
        try {
          db.syncWal();
        } catch (RocksDBException e) {
          LOG.warn("final WAL sync failed in {}", dbDir, e);
        }
      }
      closeResources();
    } finally {
      guard.writeLock().unlock();
    }
  }

  /** The data directory lock: one engine per directory, across processes and in this one. */
  static final class DirLock {
    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;

    private DirLock(Path file, FileChannel channel, FileLock lock) {
      this.file = file;
      this.channel = channel;
      this.lock = lock;
    }

    static DirLock acquire(Path dir) {
      Path file = dir.resolve("quorumkv.lock");
      FileChannel ch = null;
      try {
        Files.createDirectories(dir);
        ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock l = ch.tryLock();
        if (l == null) {
          throw new StorageStartupException(StorageStartupException.Reason.LOCKED,
              "data directory " + dir + " is locked by another live process");
        }
        return new DirLock(file, ch, l);
      } catch (OverlappingFileLockException e) {
        closeQuietly(ch);
        throw new StorageStartupException(StorageStartupException.Reason.LOCKED,
            "data directory " + dir + " is already open in this process");
      } catch (IOException e) {
        closeQuietly(ch);
        throw new StorageStartupException(StorageStartupException.Reason.LOCKED,
            "cannot lock data directory " + dir + ": " + e.getMessage(), e);
      } catch (StorageStartupException e) {
        closeQuietly(ch);
        throw e;
      }
    }

    private static void closeQuietly(FileChannel ch) {
      if (ch != null) {
        try {
          ch.close();
        } catch (IOException ignored) {
          // nothing held yet
        }
      }
    }

    synchronized void release() {
      if (!channel.isOpen()) {
        return;
      }
      try {
        lock.release();
        channel.close();
      } catch (IOException e) {
        LOG.warn("releasing {} failed", file, e);
      }
    }
  }
}
