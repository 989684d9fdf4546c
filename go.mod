module workqueue

go 1.25
