"""Requests (工单): lifecycle, overdue supervision (挂牌督办), follow-up (闭环), reports and reminders."""
