      *****************************************************************
      * DISPOSITIONS: who may operate which account (OWNER/DISPONENT).
      * Fixed-length 40-byte records, EBCDIC.
      *****************************************************************
       01  DISPOSITION-RECORD.
           05  DISP-ID                 PIC 9(10).
           05  CLIENT-ID               PIC 9(10).
           05  ACCOUNT-ID              PIC 9(10).
           05  DISP-TYPE               PIC X(10).
