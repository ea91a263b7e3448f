module kclient.io/test/badserver

go 1.24.0
